"""A Redis URL for bus tests: skipped without Redis, failing when services are required."""

from __future__ import annotations

import os
import socket

import pytest

REDIS_HOST, REDIS_PORT = "127.0.0.1", 6379


def redis_reachable() -> bool:
    """Whether something answers on the machine's Redis port."""
    try:
        with socket.create_connection((REDIS_HOST, REDIS_PORT), timeout=0.5):
            return True
    except OSError:
        return False


@pytest.fixture
def redis_url() -> str:
    """The machine's Redis, or skip (fail with ORDERLY_REQUIRE_SERVICES=1)."""
    if not redis_reachable():
        reason = f"Redis is not reachable at {REDIS_HOST}:{REDIS_PORT}"
        if os.environ.get("ORDERLY_REQUIRE_SERVICES") == "1":
            pytest.fail(reason)
        pytest.skip(reason)
    return f"redis://{REDIS_HOST}:{REDIS_PORT}/0"
