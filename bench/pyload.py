"""The fallback load generator when wrk is missing: a raw HTTP/1.1 keep-alive client on
asyncio, in its own process, closed-loop like wrk (each connection sends its next request
when the previous answer is in)."""

from __future__ import annotations

import asyncio
import multiprocessing
import random
import resource
import time
from urllib.parse import urlsplit

from bench.load import LoadResult, Workload


async def _connection(host: str, port: int, path: str, workload: Workload, stop: float,
                      latencies: list[float], counts: dict[str, int]) -> None:
    rng = random.Random()
    reader, writer = await asyncio.open_connection(host, port)
    try:
        while time.monotonic() < stop:
            body = workload.sample(rng).encode()
            head = (
                f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\n\r\n"
            ).encode()
            started = time.monotonic()
            writer.write(head + body)
            status_line = await reader.readline()
            length = 0
            while (line := await reader.readline()) not in (b"\r\n", b""):
                name, _, value = line.decode("latin-1").partition(":")
                if name.strip().lower() == "content-length":
                    length = int(value)
            payload = await reader.readexactly(length)
            latencies.append(time.monotonic() - started)
            if b" 200 " not in status_line or b'"errors"' in payload:
                counts["failed"] += 1
    except (OSError, asyncio.IncompleteReadError):
        counts["socket_errors"] += 1
    finally:
        writer.close()


def _child(url: str, workload: Workload, seconds: float, connections: int, queue: multiprocessing.Queue) -> None:
    parts = urlsplit(url)
    latencies: list[float] = []
    counts = {"failed": 0, "socket_errors": 0}

    async def main() -> float:
        started = time.monotonic()
        stop = started + seconds
        await asyncio.gather(*(
            _connection(parts.hostname or "127.0.0.1", parts.port or 80, parts.path, workload, stop, latencies, counts)
            for _ in range(connections)
        ))
        return time.monotonic() - started

    wall = asyncio.run(main())
    usage = resource.getrusage(resource.RUSAGE_SELF)
    latencies.sort()

    def cut(q: float) -> float:
        return latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000 if latencies else 0.0

    queue.put(LoadResult(
        tool="python (wrk missing)",
        requests=len(latencies),
        seconds=wall,
        p50_ms=cut(0.50),
        p90_ms=cut(0.90),
        p99_ms=cut(0.99),
        max_ms=latencies[-1] * 1000 if latencies else 0.0,
        failed=counts["failed"],
        socket_errors=counts["socket_errors"],
        loadgen_cpu=(usage.ru_utime + usage.ru_stime) / wall,
    ))


def run_pyload(url: str, workload: Workload, seconds: float, connections: int) -> LoadResult:
    """Run the load in a child process and return its result."""
    context = multiprocessing.get_context("spawn")
    queue: multiprocessing.Queue = context.Queue()
    process = context.Process(target=_child, args=(url, workload, seconds, connections, queue), daemon=True)
    process.start()
    try:
        result: LoadResult = queue.get(timeout=seconds + 60)
    finally:
        process.join(timeout=10)
        if process.is_alive():
            process.kill()
    return result
