"""Scraping /metrics as Prometheus does, and reading the samples back."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping

import httpx
from prometheus_client.parser import text_string_to_metric_families

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse(text: str) -> Samples:
    """Every sample of an exposition, by name and labels (the parser refuses a malformed one)."""
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, default: float = 0.0, **labels: str) -> float:
    """One sample's value (default when the series does not exist yet)."""
    return samples.get((name, frozenset(labels.items())), default)


def has_series(samples: Samples, name: str) -> bool:
    """Whether any sample has this name."""
    return any(key[0] == name for key in samples)


async def scrape(http: httpx.AsyncClient, url: str, headers: Mapping[str, str] | None = None) -> Samples:
    """GET the metrics and parse them."""
    response = await http.get(url, headers=dict(headers or {}))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return parse(response.text)


async def scrape_until(http: httpx.AsyncClient, url: str, condition: Callable[[Samples], bool], timeout: float = 10.0) -> Samples:
    """Scrape until the samples meet the condition: the server updates some series just after it answers."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        samples = await scrape(http, url)
        if condition(samples) or loop.time() > deadline:
            return samples
        await asyncio.sleep(0.05)
