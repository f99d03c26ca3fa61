"""Stopping a background task for sure: kept for importers not yet moved to eventstore.tasks."""

from __future__ import annotations

from eventstore.tasks import cancel_and_wait

__all__ = ["cancel_and_wait"]
