"""Lint: ruff over the whole project (rules in pyproject.toml), and mypy --strict where it holds."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Held to mypy --strict (the rest passes the plain mypy of test_types.py): the domain, the
# event store and the read side.
STRICT = ["domain", "projections"] + sorted(str(path.relative_to(ROOT)) for path in (ROOT / "eventstore").glob("*.py"))


def _run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False, timeout=600)


def test_ruff_finds_nothing() -> None:
    ruff = Path(sys.executable).with_name("ruff")
    result = _run(str(ruff), "check", "--no-cache", "--output-format", "concise", ".")
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_strict_holds_for_the_domain_the_event_store_and_the_projections() -> None:
    result = _run(sys.executable, "-m", "mypy", "--strict", *STRICT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Success" in result.stdout
