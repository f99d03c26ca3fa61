"""The API serves with a roomier young generation (orderly/young_generation.py) and leaves the
collector's thresholds as it found them."""

from __future__ import annotations

import gc

from orderly.young_generation import YOUNG_OBJECTS, roomy_young_generation
from tests.support.server import running_server, server_settings


async def test_the_api_serves_with_a_roomy_young_generation_and_restores_the_thresholds(database_url: str) -> None:
    before = gc.get_threshold()
    assert before[0] != YOUNG_OBJECTS
    async with running_server(server_settings(database_url)) as server:
        assert (await server.gql.data("{ __typename }")) == {"__typename": "Query"}
        assert gc.get_threshold() == (YOUNG_OBJECTS, *before[1:])
    assert gc.get_threshold() == before


def test_the_thresholds_come_back_after_an_error() -> None:
    before = gc.get_threshold()
    try:
        with roomy_young_generation(1234):
            assert gc.get_threshold()[0] == 1234
            raise RuntimeError
    except RuntimeError:
        pass
    assert gc.get_threshold() == before
