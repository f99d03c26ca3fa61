"""The progress of a blue-green rebuild in a terminal: a rich progress bar, or plain lines when not a TTY.

It follows the shadow checkpoint (projections/status.py reads it, as `orderly status` and the
`projections` query do), so what the bar shows is what every other door shows.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn

from projections.status import ProjectionStatusView, RebuildProgress

REFRESH_SECONDS = 0.5
PLAIN_EVERY_SECONDS = 5.0


def describe(progress: RebuildProgress) -> str:
    """One line: generation, position/head, events/s, ETA."""
    rate = "-" if progress.events_per_second is None else f"{progress.events_per_second:,.0f} events/s"
    return (
        f"generation {progress.generation} (version {progress.version}): "
        f"{progress.position:,}/{progress.head_position:,}, {rate}, ETA {eta_text(progress.eta_seconds)}"
    )


def eta_text(seconds: float | None) -> str:
    """An ETA as h:mm:ss, or "-" when unknown."""
    if seconds is None:
        return "-"
    whole = round(seconds)
    return f"{whole // 3600}:{whole % 3600 // 60:02d}:{whole % 60:02d}"


class RebuildProgressBar:
    """Shows a projection's rebuild progress until closed; `follow` polls the status and draws it."""

    def __init__(self, name: str, console: Console | None = None) -> None:
        self._name = name
        self._console = console or Console()
        self._bar = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            TextColumn("{task.fields[position]}/{task.fields[head]}"),
            TextColumn("{task.fields[rate]}"),
            TextColumn("ETA {task.fields[eta]}"),
            console=self._console,
        )
        self._tasks: dict[str, TaskID] = {}  # a row per projection
        self._rerouted: list[tuple[logging.StreamHandler[Any], Any]] = []
        self._plain_at = 0.0
        self.last: RebuildProgress | None = None

    def __enter__(self) -> RebuildProgressBar:
        if self._console.is_terminal:
            original = sys.stderr
            self._bar.start()
            # While the bar is live rich proxies sys.stderr so that lines print above it; logging's
            # handlers keep the stream they were given, so they are pointed at the proxy meanwhile,
            # or a log line would land in the middle of the bar.
            for handler in logging.getLogger().handlers:
                if isinstance(handler, logging.StreamHandler) and handler.stream is original and sys.stderr is not original:
                    self._rerouted.append((handler, original))
                    handler.setStream(sys.stderr)
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None) -> None:
        if self._console.is_terminal:
            for handler, stream in self._rerouted:
                handler.setStream(stream)
            self._rerouted.clear()
            self._bar.stop()

    def show(self, progress: RebuildProgress, name: str | None = None) -> None:
        """Draw one reading of the progress of `name` (by default the bar's own projection)."""
        name = name or self._name
        self.last = progress
        fields: dict[str, Any] = {
            "position": f"{progress.position:,}",
            "head": f"{progress.head_position:,}",
            "rate": "-" if progress.events_per_second is None else f"{progress.events_per_second:,.0f} events/s",
            "eta": eta_text(progress.eta_seconds),
        }
        if not self._console.is_terminal:
            now = time.monotonic()
            if now - self._plain_at >= PLAIN_EVERY_SECONDS:
                self._plain_at = now
                self._console.print(f"rebuild {name}: {describe(progress)}", highlight=False, soft_wrap=True)
            return
        description = f"{name} g{progress.generation}"
        task = self._tasks.get(name)
        if task is None:
            task = self._tasks[name] = self._bar.add_task(description, total=progress.head_position, **fields)
        self._bar.update(task, description=description, completed=progress.position, total=progress.head_position, **fields)

    def finish(self, position: int, name: str | None = None) -> None:
        """The rebuild switched at position: draw the bar full (a terminal only; the caller prints the outcome)."""
        task = self._tasks.get(name or self._name)
        if task is not None and self._console.is_terminal:
            shown = f"{position:,}"
            self._bar.update(task, completed=position, total=position, position=shown, head=shown, eta=eta_text(0))

    async def follow(self, status: Callable[[], Awaitable[ProjectionStatusView | None]], name: str | None = None) -> None:
        """Poll the status and draw the rebuild of `name` (by default the bar's own) until cancelled."""
        while True:
            view = await status()
            if view is not None and view.rebuild is not None:
                self.show(view.rebuild, name)
            await asyncio.sleep(REFRESH_SECONDS)
