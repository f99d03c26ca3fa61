"""The `orderly` command as an operator uses it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def orderly(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "orderly.cli", *args],
        cwd=ROOT, capture_output=True, text=True, timeout=60, check=False,
        env={**os.environ, **(env or {})},
    )


def test_migrate_then_status_on_sqlite(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    migrated = orderly("migrate", "--database-url", url)
    assert migrated.returncode == 0, migrated.stderr
    again = orderly("migrate", "--database-url", url)
    assert again.returncode == 0, again.stderr
    status = orderly("status", "--database-url", url)
    assert status.returncode == 0, status.stderr
    lines = status.stdout.splitlines()
    assert lines[0].split()[:5] == ["projection", "state", "position", "head", "lag"]
    assert {line.split()[0] for line in lines[1:]} == {"order_views", "customer_summaries"}


def test_status_on_postgres(postgres_url: str) -> None:
    status = orderly("status", "--database-url", postgres_url)
    assert status.returncode == 0, status.stderr
    assert "order_views" in status.stdout and "customer_summaries" in status.stdout


def test_a_bad_setting_is_a_clear_error() -> None:
    result = orderly("status", env={"ORDERLY_POLL_INTERVAL": "soon"})
    assert result.returncode == 2
    assert "ORDERLY_POLL_INTERVAL='soon'" in result.stderr


def test_schema_prints_the_sdl() -> None:
    result = orderly("schema")
    assert result.returncode == 0
    assert result.stdout == (ROOT / "schema" / "schema.graphql").read_text()
