"""The bench's quick mode runs every scenario end to end, so the bench cannot rot.

It asserts that the run succeeds, prints every scenario in its table and writes the JSON
report; it asserts nothing about speed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import POSTGRES_ADMIN_URL, postgres_problem

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "bench" / "results"
SCENARIO_NAMES = (
    "1 appends", "2 createOrder", "3 order(orderId)", "4 lists", "5 read-your-writes", "6 catch-up",
    "7 subscriptions", "8 memory", "9 blue-green rebuild",
)
FIGURE_KEYS = {"scenario", "figure", "unit", "orderly", "baseline", "ratio", "target", "met"}
TIMEOUT = 240


@pytest.mark.postgres
@pytest.mark.redis
def test_quick_bench_runs_every_scenario(redis_url: str) -> None:
    problem = postgres_problem()
    if problem is not None:
        from tests.support.services import skip_or_fail

        skip_or_fail(problem)
    before = set(RESULTS.glob("*.json"))
    env = {**os.environ, "ORDERLY_BENCH_POSTGRES_URL": POSTGRES_ADMIN_URL, "ORDERLY_BENCH_REDIS_URL": redis_url}
    try:
        done = subprocess.run(
            [sys.executable, "-m", "bench", "--quick"],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=TIMEOUT, check=False,
        )
    except subprocess.TimeoutExpired as error:
        pytest.fail(f"python -m bench --quick took over {TIMEOUT} s:\n{error.stdout!r}\n{error.stderr!r}")
    assert done.returncode == 0, f"exit {done.returncode}\n{done.stdout}\n{done.stderr[-6000:]}"

    for name in SCENARIO_NAMES:
        assert name in done.stdout, f"{name!r} missing from the table:\n{done.stdout}"
    assert "read-your-writes over" in done.stdout

    written = sorted(set(RESULTS.glob("*.json")) - before)
    assert written, "no bench/results/*.json written"
    try:
        report = json.loads(written[-1].read_text())
        assert report["mode"] == "quick"
        assert {"machine", "plan", "figures", "loadgen", "details", "errors", "load_generator"} <= set(report)
        assert report["errors"] == {}
        assert {figure["scenario"] for figure in report["figures"]} == set(SCENARIO_NAMES)
        for figure in report["figures"]:
            assert FIGURE_KEYS <= set(figure), figure
            assert figure["orderly"]["median"] >= 0
        assert report["details"]["read_your_writes"]["base"]["commands"] > 0
        assert report["details"]["read_your_writes"]["fast"]["writers"] == 2
    finally:
        for path in written:
            path.unlink()
