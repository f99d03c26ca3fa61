"""The projections this server runs, by name."""

from __future__ import annotations

from collections.abc import Mapping

from projections.customer_summaries.projector import PROJECTOR as CUSTOMER_SUMMARIES
from projections.order_views.projector import PROJECTOR as ORDER_VIEWS
from projections.projector import Projector

PROJECTIONS: Mapping[str, Projector] = {
    "order_views": ORDER_VIEWS,
    "customer_summaries": CUSTOMER_SUMMARIES,
}
