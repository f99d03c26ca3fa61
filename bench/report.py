"""Figures, the table that prints them and the JSON file that keeps them.

Each figure is the median of its runs with min and max beside it. `ratio` is "times
better than the baseline": Orderly / baseline for rates, baseline / Orderly for
latencies and memory, so above 1 always favours Orderly.
"""

from __future__ import annotations

import json
import statistics
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"


@dataclass
class Series:
    """The values of one measure over its runs."""

    values: list[float]

    @property
    def median(self) -> float:
        """Median of the runs."""
        return float(statistics.median(self.values))

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {"median": self.median, "min": min(self.values), "max": max(self.values), "runs": self.values}


@dataclass(frozen=True)
class Target:
    """A goal on the ratio or on Orderly's own value: kind is "ratio>=", "value<=", "value>="
    or "every<=" (every run's value, not only the median)."""

    kind: str
    number: float

    def met(self, value: float, ratio: float | None) -> bool | None:
        """Whether the median meets it (None when the ratio it needs is unknown)."""
        if self.kind == "ratio>=":
            return None if ratio is None else ratio >= self.number
        if self.kind in ("value<=", "every<="):
            return value <= self.number
        return value >= self.number

    def text(self, unit: str) -> str:
        """As printed in the table."""
        if self.kind == "ratio>=":
            return f">= {self.number:g}x"
        sign = ">=" if self.kind == "value>=" else "<="
        every = ", every run" if self.kind == "every<=" else ""
        return f"{sign} {self.number:g} {unit}".rstrip() + every


@dataclass
class Figure:
    """One row of the table."""

    scenario: str
    name: str
    unit: str
    better: str  # "higher" or "lower"
    orderly: Series
    baseline: Series | None = None
    baseline_name: str = ""
    baseline_note: str = ""  # why there is no baseline value (e.g. "unavailable: ...")
    target: Target | None = None
    notes: str = ""

    @property
    def ratio(self) -> float | None:
        """Times better than the baseline (see the module docstring)."""
        if self.baseline is None or not self.baseline.values or not self.orderly.values:
            return None
        mine, theirs = self.orderly.median, self.baseline.median
        if self.better == "higher":
            return mine / theirs if theirs else None
        return theirs / mine if mine else None

    @property
    def met(self) -> bool | None:
        """Whether the target is met (None without a target)."""
        if self.target is None or not self.orderly.values:
            return None
        if self.target.kind == "every<=":
            return self.target.met(max(self.orderly.values), self.ratio)
        return self.target.met(self.orderly.median, self.ratio)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            "scenario": self.scenario,
            "figure": self.name,
            "unit": self.unit,
            "better": self.better,
            "orderly": self.orderly.as_dict() if self.orderly.values else None,
            "baseline": None if self.baseline is None else self.baseline.as_dict(),
            "baseline_name": self.baseline_name,
            "baseline_note": self.baseline_note,
            "ratio": self.ratio,
            "target": None if self.target is None else self.target.text(self.unit),
            "met": self.met,
            "notes": self.notes,
        }


def _number(value: float, unit: str) -> str:
    if unit in ("ms",):
        return f"{value:.2f}"
    if unit in ("MB", "%"):
        return f"{value:.1f}"
    return f"{value:,.0f}"


def _series(series: Series | None, unit: str) -> str:
    if series is None or not series.values:
        return "-"
    text = _number(series.median, unit)
    if len(series.values) > 1:
        text += f" [{_number(min(series.values), unit)}-{_number(max(series.values), unit)}]"
    return text


def table(figures: list[Figure], *, runs_note: str) -> str:
    """The table: scenario | figure | Orderly | baseline | ratio | target | met?"""
    header = ("scenario", "figure", "Orderly median [min-max]", "baseline median [min-max]", "ratio", "target", "met?")
    rows = []
    for figure in figures:
        baseline = _series(figure.baseline, figure.unit)
        if figure.baseline_name:
            baseline = f"{figure.baseline_name}: {baseline if figure.baseline else figure.baseline_note or '-'}"
        ratio = figure.ratio
        met = figure.met
        rows.append((
            figure.scenario,
            f"{figure.name} ({figure.unit})",
            _series(figure.orderly, figure.unit),
            baseline,
            "-" if ratio is None else f"{ratio:.2f}x",
            "-" if figure.target is None else figure.target.text(figure.unit),
            "-" if met is None else ("yes" if met else "NO"),
        ))
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]
    lines = [" | ".join(str(cell).ljust(width) for cell, width in zip(row, widths, strict=True)) for row in [header, *rows]]
    lines.insert(1, "-+-".join("-" * width for width in widths))
    footer = (
        f"{runs_note}. ratio: Orderly/baseline for rates, baseline/Orderly for latency and memory "
        "(above 1 favours Orderly)."
    )
    return "\n".join([*lines, footer])


def write_json(document: dict[str, Any], folder: Path = RESULTS) -> Path:
    """Write bench/results/<UTC timestamp>.json and return its path."""
    folder.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = folder / f"{stamp}.json"
    path.write_text(json.dumps(document, indent=2, default=str))
    return path
