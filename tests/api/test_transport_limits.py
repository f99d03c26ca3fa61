"""HTTP transport limits against a real server (uvicorn configured as `orderly serve` is): huge
bodies, huge or countless headers, slow heads and bodies. Each is answered with its status and a
LIMIT_EXCEEDED error in bounded time, the connection closed, the server still healthy and a
well-behaved client served meanwhile. No storage is touched: SQLite only."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from orderly.http_protocol import LimitedHttpToolsProtocol
from orderly.limit_settings import TransportLimits
from tests.support.hostile import ANSWER_WITHIN, port_of, while_served
from tests.support.loopback_uvicorn import serving
from tests.support.raw_http import RawResponse, exchange, held_until_closed, read_response, request_head
from tests.support.server import RunningServer

MB = 1024 * 1024
LIMITS = TransportLimits(header_timeout=1.0, body_timeout=1.0)
JSON_POST = [("Content-Type", "application/json")]


@pytest.fixture
def backend() -> str:
    """Transport limits touch no storage."""
    return "sqlite"


@pytest.fixture
async def limited(server_factory: Any) -> AsyncIterator[RunningServer]:
    async with server_factory(transport_limits=LIMITS) as server:
        yield server


def chunks(total: int, size: int = 64 * 1024) -> Iterator[bytes]:
    block = b"x" * size
    for _ in range(total // size):
        yield block


def chunked(total: int, size: int = 64 * 1024) -> Iterator[bytes]:
    for block in chunks(total, size):
        yield b"%x\r\n" % len(block) + block + b"\r\n"


def assert_limit(response: RawResponse, status: int, limit: str) -> None:
    assert response.status == status, response
    assert response.headers["content-type"].startswith("application/json")
    (error,) = response.json()["errors"]
    assert error["extensions"] == {"code": "LIMIT_EXCEEDED", "limit": limit}, error
    assert response.seconds < ANSWER_WITHIN
    assert response.closed


async def test_a_50_mb_body_is_refused_from_its_content_length_before_it_is_read(limited: RunningServer) -> None:
    head = request_head("POST", "/graphql", [*JSON_POST, ("Content-Length", str(50 * MB))])
    response = await while_served(limited, exchange(port_of(limited), head, chunks(50 * MB)))
    assert_limit(response, 413, "bodyBytes")
    assert response.sent < 20 * MB  # the answer came long before the body could have been sent


async def test_a_client_that_sends_its_whole_body_before_reading_still_gets_the_413(limited: RunningServer) -> None:
    # httpx writes the whole request first: the refused connection lingers (discarding) long
    # enough for the answer to survive the close.
    response = await limited.http.post(limited.url, content=b"x" * (50 * MB), headers=dict(JSON_POST))
    assert response.status_code == 413
    assert response.json()["errors"][0]["extensions"] == {"code": "LIMIT_EXCEEDED", "limit": "bodyBytes"}


async def test_a_chunked_50_mb_body_is_refused_once_it_passes_the_limit(limited: RunningServer) -> None:
    head = request_head("POST", "/graphql", [*JSON_POST, ("Transfer-Encoding", "chunked")])
    response = await while_served(limited, exchange(port_of(limited), head, chunked(50 * MB)))
    assert_limit(response, 413, "bodyBytes")
    assert response.sent < 20 * MB


async def test_a_body_just_under_the_limit_is_still_read(limited: RunningServer) -> None:
    query = b'{"query": "{ __typename }", "variables": {"pad": "' + b"x" * (LIMITS.body_bytes - 100) + b'"}}'
    response = await limited.http.post(limited.url, content=query, headers=dict(JSON_POST))
    assert response.json() == {"data": {"__typename": "Query"}}


async def test_1_mb_of_headers_is_refused_with_431(limited: RunningServer) -> None:
    head = request_head("POST", "/graphql", [*JSON_POST, ("X-Big", "a" * MB)])
    response = await while_served(limited, exchange(port_of(limited), head))
    assert_limit(response, 431, "headerBytes")


async def test_10000_headers_are_refused_with_431(limited: RunningServer) -> None:
    head = request_head("POST", "/graphql", [*JSON_POST, *((f"X-H{i}", "v") for i in range(10_000))])
    response = await while_served(limited, exchange(port_of(limited), head))
    assert_limit(response, 431, "headerCount")


async def test_headers_within_the_limits_are_served(limited: RunningServer) -> None:
    headers = {f"X-H{i}": "v" * 100 for i in range(LIMITS.header_count - 10)}
    response = await limited.http.post(limited.url, json={"query": "{ __typename }"}, headers=headers)
    assert response.json() == {"data": {"__typename": "Query"}}


async def test_slow_body_connections_get_408_and_are_closed(limited: RunningServer) -> None:
    head = request_head("POST", "/graphql", [*JSON_POST, ("Content-Length", "1000")])

    async def slow_clients() -> list[RawResponse]:
        # 50 connections each sending a few bytes of their body, then a byte a second.
        return await asyncio.gather(
            *(exchange(port_of(limited), head, (b"{" for _ in range(1000)), pause=1.0) for _ in range(50))
        )

    for response in await while_served(limited, slow_clients()):
        assert_limit(response, 408, "bodyTimeout")


async def test_a_head_that_never_ends_gets_408(limited: RunningServer) -> None:
    trickle = (b"X-A: b\r\n" for _ in range(100))  # a header every half second, never the blank line
    response = await while_served(limited, exchange(port_of(limited), b"POST /graphql HTTP/1.1\r\n", trickle, pause=0.5))
    assert_limit(response, 408, "headerTimeout")


async def test_a_connection_that_sends_nothing_is_closed(limited: RunningServer) -> None:
    held = await while_served(limited, held_until_closed(port_of(limited), b"", timeout=10))
    assert held is not None and held < ANSWER_WITHIN


async def test_a_body_the_app_never_reads_cannot_hold_the_connection(limited: RunningServer) -> None:
    # /healthz answers without reading; a client dribbling its body stays no longer than the body timeout allows.
    head = request_head("POST", "/healthz", [("Content-Length", "1000")])
    reader, writer = await asyncio.open_connection("127.0.0.1", port_of(limited))
    writer.write(head + b"x")
    loop = asyncio.get_running_loop()
    started = loop.time()
    with contextlib.suppress(ConnectionError):
        while loop.time() - started < 10:
            writer.write(b"x")
            await writer.drain()
            if reader.at_eof():
                break
            with contextlib.suppress(TimeoutError):
                if await asyncio.wait_for(reader.read(65536), 0.3) == b"":
                    break
    writer.close()
    assert loop.time() - started < LIMITS.body_timeout + 3


async def _after_one_request(port: int, then: bytes) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A kept-alive connection that had one request answered and then, half a timeout later, sent `then`.

    The first request's deadlines leave the connection's timer due before the new deadline:
    the timer must wait again for the rest (orderly/http_protocol.py's lazy timer)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(request_head("GET", "/healthz"))
    assert (await asyncio.wait_for(read_response(reader), 10)).status == 200
    await asyncio.sleep(LIMITS.header_timeout / 2)
    writer.write(then)
    return reader, writer


async def test_a_kept_alive_connections_next_head_that_never_ends_gets_408(limited: RunningServer) -> None:
    reader, writer = await _after_one_request(port_of(limited), b"POST /graphql HTTP/1.1\r\nX-A: b\r\n")
    try:
        response = await asyncio.wait_for(read_response(reader), LIMITS.header_timeout * 10)
    finally:
        writer.close()
    assert response.status == 408
    assert response.json()["errors"][0]["extensions"] == {"code": "LIMIT_EXCEEDED", "limit": "headerTimeout"}


# The protocol subclass against uvicorn's own, on ordinary requests: the same answers.


async def _echo(request: Request) -> JSONResponse:
    body = await request.body()
    headers = {k: v for k, v in request.headers.items() if k.startswith("x-")}
    return JSONResponse({"method": request.method, "path": request.url.path, "query": request.url.query,
                         "headers": headers, "body": body.decode()})


def _serve(protocol: type[asyncio.Protocol]) -> contextlib.AbstractAsyncContextManager[int]:
    return serving(Starlette(routes=[Route("/{path:path}", _echo, methods=["GET", "POST", "PUT"])]), protocol)


async def _two_chunks() -> AsyncIterator[bytes]:
    for part in (b"chunk-1", b"chunk-2"):
        yield part


async def _ordinary_answers(port: int) -> list[Any]:
    base = f"http://127.0.0.1:{port}"
    answers: list[Any] = []
    async with httpx.AsyncClient(base_url=base) as client:
        for response in (
            await client.get("/a?b=c", headers={"X-One": "1"}),
            await client.post("/p", content=b"hello" * 1000),
            await client.post("/p", content=_two_chunks()),  # chunked
            await client.put("/keep-alive-again", content=b"x" * 200_000),
        ):
            answers.append((response.status_code, response.json()))
    pipelined = request_head("GET", "/one", [("Content-Length", "0")]) + request_head("GET", "/two")
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(pipelined)
    for _ in range(2):
        response = await asyncio.wait_for(read_response(reader), 10)
        answers.append((response.status, response.json()))
    writer.close()
    return answers


async def test_the_limited_protocol_answers_ordinary_requests_as_uvicorns_own() -> None:
    async with _serve(HttpToolsProtocol) as port:
        expected = await _ordinary_answers(port)
    async with _serve(LimitedHttpToolsProtocol.with_limits(TransportLimits())) as port:
        assert await _ordinary_answers(port) == expected
