"""`orderly serve` with ORDERLY_LOG_FORMAT=json: every stderr line is a JSON object, the access log
included, with the request id the response echoes; no token, variable or query string in it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from tests.api.operations import CREATE, order_input
from tests.support.processes import ROOT
from tests.support.redis_server import free_port

SECRET_STREET = f"Secret Street {uuid.uuid4().hex[:8]}"
SECRET_TOKEN = f"sekrit-{uuid.uuid4().hex}"
SECRET_VARIABLE = f"variable-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module")
def served(sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path, Path]]:
    """(base URL, stdout file, stderr file) of `orderly serve` logging JSON (unbuffered: a line is there once logged)."""
    directory = tmp_path_factory.mktemp("json-logs")
    database = directory / "orderly.db"
    shutil.copyfile(sqlite_template, database)
    port = free_port()
    stdout, stderr = directory / "stdout", directory / "stderr"
    env = {**os.environ, "ORDERLY_DATABASE_URL": f"sqlite:///{database}", "ORDERLY_LOG_FORMAT": "json",
           "ORDERLY_POLL_INTERVAL": "0.2", "PYTHONUNBUFFERED": "1"}
    env.pop("OTEL_EXPORTER_OTLP_ENDPOINT", None)
    with stdout.open("wb") as out, stderr.open("wb") as err:
        process = subprocess.Popen(
            [sys.executable, "-m", "orderly.cli", "serve", "--port", str(port)], cwd=ROOT, env=env, stdout=out, stderr=err
        )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            assert process.poll() is None, stderr.read_text()
            try:
                if httpx.get(f"{base}/healthz", timeout=0.5).status_code == 200:
                    break
            except httpx.HTTPError:
                assert time.monotonic() < deadline, stderr.read_text()
                time.sleep(0.1)
        yield base, stdout, stderr
    finally:
        process.terminate()
        process.wait(timeout=15)


@pytest.fixture(scope="module")
def session(served: tuple[str, Path, Path]) -> dict[str, Any]:
    """A few requests against the server, then its stopped stderr, parsed line by line."""
    base, stdout, stderr = served
    with httpx.Client(timeout=15) as http:
        created = http.post(
            f"{base}/graphql",
            json={"query": CREATE, "variables": {"input": order_input(shippingAddress={
                "line1": SECRET_STREET, "city": "Springfield", "postalCode": "12345", "country": "US"})}},
            headers={"x-request-id": "lb-7f3a.9", "authorization": f"Bearer {SECRET_TOKEN}"},
        )
        queried = http.get(
            f"{base}/graphql",
            params={"query": "query Q($id: ID!) { order(orderId: $id) { version } }",
                    "variables": orjson.dumps({"id": SECRET_VARIABLE}).decode()},
        )
    return {"created": created, "queried": queried, "stdout": stdout, "stderr": stderr, "base": base}


def lines(session: dict[str, Any]) -> list[dict[str, Any]]:
    text = session["stderr"].read_text()
    assert text.strip(), "the server wrote nothing to stderr"
    return [orjson.loads(line) for line in text.splitlines()]  # every line is one JSON object


def test_every_stderr_line_is_a_json_object_with_the_common_fields(session: dict[str, Any], served: Any) -> None:
    for line in lines(session):
        assert {"timestamp", "level", "logger", "message"} <= set(line), line


def test_the_access_log_carries_the_request_id_the_response_echoes(session: dict[str, Any]) -> None:
    assert session["created"].status_code == 200 and session["created"].headers["x-request-id"] == "lb-7f3a.9"
    generated = session["queried"].headers["x-request-id"]
    assert len(generated) == 32
    access = [line for line in lines(session) if line["logger"] == "uvicorn.access"]
    by_id = {line.get("request_id"): line for line in access}
    assert by_id["lb-7f3a.9"]["method"] == "POST" and by_id["lb-7f3a.9"]["path"] == "/graphql"
    assert by_id["lb-7f3a.9"]["status"] == 200 and by_id["lb-7f3a.9"]["message"] == "POST /graphql 200"
    assert by_id[generated]["method"] == "GET" and by_id[generated]["path"] == "/graphql"


def test_no_token_variable_or_query_string_reaches_the_log(session: dict[str, Any]) -> None:
    text = session["stderr"].read_text() + session["stdout"].read_text()
    for secret in (SECRET_TOKEN, SECRET_STREET, SECRET_VARIABLE, "variables="):
        assert secret not in text


def test_stdout_keeps_the_address_for_people(session: dict[str, Any]) -> None:
    assert f"{session['base']}/graphql" in session["stdout"].read_text()
