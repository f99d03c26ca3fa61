"""`orderly persisted add | list | remove` as an operator uses it, and a server in allow-list mode obeying it."""

from __future__ import annotations

import asyncio
import json
import subprocess
import uuid
from pathlib import Path
from typing import Any

import pytest
from graphql import parse, print_ast

from orderly.persisted_queries import PersistedQueryMode, document_hash
from orderly.persisted_query_settings import PersistedQuerySettings
from tests.test_cli import orderly

pytestmark = pytest.mark.asyncio

ALLOWLIST = PersistedQuerySettings(mode=PersistedQueryMode.ALLOWLIST)


def persisted(sha256: str) -> dict[str, Any]:
    return {"persistedQuery": {"version": 1, "sha256Hash": sha256}}


async def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(orderly, "persisted", *args)


async def test_add_list_remove_drive_the_allow_list(server_factory: Any, database_url: str, tmp_path: Path) -> None:
    source = f"query FromFile{uuid.uuid4().hex}   {{ projections {{ name }} }}\n"  # not in printed form
    printed = print_ast(parse(source))
    graphql_file = tmp_path / "operations.graphql"
    graphql_file.write_text(source)
    body = f"query FromApollo{uuid.uuid4().hex} {{\n  projections {{\n    name\n  }}\n}}"
    apollo = tmp_path / "persisted-query-manifest.json"
    apollo.write_text(
        json.dumps(
            {
                "format": "apollo-persisted-query-manifest",
                "version": 1,
                "operations": [{"id": document_hash(body), "name": "FromApollo", "type": "query", "body": body}],
            }
        )
    )
    relay_text = f"query FromRelay{uuid.uuid4().hex} {{ projections {{ name }} }}"
    relay = tmp_path / "relay.json"
    relay.write_text(json.dumps({"a1b2c3": relay_text}))

    async with server_factory(persisted_queries=ALLOWLIST) as server:
        refused = await server.http.post(server.url, json={"extensions": persisted(document_hash(body))})
        assert refused.json()["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_IN_LIST"

        added = await cli("add", str(graphql_file), str(apollo), str(relay), "--database-url", database_url)
        assert added.returncode == 0, added.stderr
        relay_printed = print_ast(parse(relay_text))
        hashes = {document_hash(text) for text in (source, printed, body, relay_text, relay_printed)}
        assert print_ast(parse(body)) == body  # Apollo's bodies are printed already: one entry each
        assert {line.split()[1] for line in added.stdout.splitlines()} == hashes
        again = await cli("add", str(apollo), "--database-url", database_url)
        assert again.stdout.startswith("listed already")

        listing = await cli("list", "--database-url", database_url)
        assert listing.returncode == 0, listing.stderr
        assert {line.split()[0] for line in listing.stdout.splitlines()[1:]} == hashes

        for sha in hashes:
            response = await server.http.post(server.url, json={"extensions": persisted(sha)})
            assert response.json()["data"]["projections"], response.text

        removed = await cli("remove", document_hash(body), "--database-url", database_url)
        assert (removed.returncode, removed.stdout.strip()) == (0, f"removed {document_hash(body)}")
        missing = await cli("remove", document_hash(body), "--database-url", database_url)
        assert missing.returncode == 1
        assert "is not registered" in missing.stderr


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("bad.graphql", "{ noSuchField }", "Cannot query field 'noSuchField'"),
        ("broken.graphql", "query {", "Syntax Error"),
        (
            "wrong-id.json",
            json.dumps(
                {
                    "format": "apollo-persisted-query-manifest",
                    "version": 1,
                    "operations": [{"id": "abc", "name": "P", "type": "query", "body": "{ projections { name } }"}],
                }
            ),
            "its id is not the SHA-256 of its body",
        ),
        ("other.json", json.dumps([1, 2]), "neither an Apollo persisted-query manifest nor a Relay map"),
    ],
)
async def test_a_bad_file_registers_nothing(database_url: str, tmp_path: Path, name: str, content: str, message: str) -> None:
    good = tmp_path / "good.graphql"
    good.write_text("{ projections { name } }")
    bad = tmp_path / name
    bad.write_text(content)
    result = await cli("add", str(good), str(bad), "--database-url", database_url)
    assert result.returncode == 2
    assert message in result.stderr and "nothing was registered" in result.stderr
    listing = await cli("list", "--all", "--database-url", database_url)
    assert listing.stdout.strip() == "no persisted queries"
