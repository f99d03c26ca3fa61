"""The services rule: a test that needs an absent service skips, or fails when services are required."""

from __future__ import annotations

import os

import pytest


def require_services() -> bool:
    """Whether unreachable services fail the run instead of skipping tests."""
    return os.environ.get("ORDERLY_REQUIRE_SERVICES") == "1"


def skip_or_fail(reason: str) -> None:
    """Skip the test, or fail it when services are required."""
    if require_services():
        pytest.fail(reason)
    pytest.skip(reason)
