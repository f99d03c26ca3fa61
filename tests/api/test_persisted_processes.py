"""The registry is shared through PostgreSQL: a document registered on API A runs by hash on API B."""

from __future__ import annotations

import json
import uuid

import httpx

from orderly.persisted_queries import document_hash
from tests.support.cluster import Cluster


async def test_a_hash_registered_on_one_process_runs_on_another(cluster: Cluster) -> None:
    first, second = cluster.api(), cluster.api()
    query = f"query Shared{uuid.uuid4().hex} {{ projections {{ name }} }}"
    extensions = {"persistedQuery": {"version": 1, "sha256Hash": document_hash(query)}}
    async with httpx.AsyncClient(timeout=15) as http:
        # Both miss first: the second process must not remember the miss.
        for process in (first, second):
            miss = await http.post(process.url, json={"extensions": extensions})
            assert miss.json()["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"

        registered = await http.post(first.url, json={"query": query, "extensions": extensions})
        assert registered.json()["data"]["projections"], registered.text

        for hit in (
            await http.post(second.url, json={"extensions": extensions}),
            await http.get(second.url, params={"extensions": json.dumps(extensions)}, headers={"accept": "application/json"}),
        ):
            assert hit.status_code == 200
            assert hit.json() == registered.json()
