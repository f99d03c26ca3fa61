"""HTTP load in its own process: wrk with a generated Lua script (random bodies, GraphQL
errors counted), or bench/pyload.py when wrk is missing. Each run reports the load
generator's CPU share so a reader can tell it was not the bottleneck."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from bench.procstat import CpuMeter

ID_PLACEHOLDER = "{id}"
MARKER = "BENCHJSON "


@dataclass(frozen=True)
class Workload:
    """What to POST: a random one of `bodies`, or `template` with {id} replaced by
    id_prefix + 12 hex digits of a random number below id_count."""

    name: str
    bodies: tuple[str, ...] = ()
    template: str = ""
    id_prefix: str = ""
    id_count: int = 0

    def sample(self, rng: object) -> str:
        """One body chosen as the Lua script would (for pre-flight checks in Python)."""
        import random

        assert isinstance(rng, random.Random)
        if self.bodies:
            return rng.choice(self.bodies)
        return self.template.replace(ID_PLACEHOLDER, f"{self.id_prefix}{rng.randrange(self.id_count):012x}")


@dataclass
class LoadResult:
    """One load run against one server."""

    tool: str
    requests: int
    seconds: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    failed: int  # non-200 responses and responses with GraphQL "errors"
    socket_errors: int
    loadgen_cpu: float  # CPU seconds of the load generator per wall second (1.0 = one core)
    server_cpu: dict[str, float] = field(default_factory=dict)

    @property
    def rps(self) -> float:
        """Requests per second."""
        return self.requests / self.seconds if self.seconds else 0.0

    def as_dict(self) -> dict[str, object]:
        """JSON-ready."""
        return {**asdict(self), "rps": self.rps}


def _lua_string(text: str) -> str:
    level = 1
    while f"]{'=' * level}]" in text:
        level += 1
    return f"[{'=' * level}[{text}]{'=' * level}]"


def lua_script(workload: Workload) -> str:
    """A wrk script that POSTs the workload's bodies and counts failed GraphQL answers."""
    if workload.bodies:
        body_setup = "local bodies = {\n" + ",\n".join(_lua_string(body) for body in workload.bodies) + "\n}\n"
        pick = "bodies[math.random(#bodies)]"
    else:
        prefix, suffix = workload.template.split(ID_PLACEHOLDER, 1)
        body_setup = (
            f"local prefix = {_lua_string(prefix + workload.id_prefix)}\n"
            f"local suffix = {_lua_string(suffix)}\n"
            f"local id_count = {workload.id_count}\n"
        )
        pick = 'prefix .. string.format("%012x", math.random(0, id_count - 1)) .. suffix'
    return body_setup + f"""
local headers = {{["Content-Type"] = "application/json"}}
local threads = {{}}
local counter = 0
function setup(thread)
  counter = counter + 1
  thread:set("seed", counter)
  table.insert(threads, thread)
end
function init(args)
  failed = 0
  math.randomseed(os.time() * 1000 + seed)
end
function request()
  return wrk.format("POST", "/graphql", headers, {pick})
end
function response(status, headers, body)
  if status ~= 200 or string.find(body, '"errors"', 1, true) then
    failed = failed + 1
  end
end
function done(summary, latency, requests)
  local f = 0
  for _, t in ipairs(threads) do f = f + t:get("failed") end
  local e = summary.errors
  io.write(string.format(
    '{MARKER}{{"requests":%d,"duration_us":%d,"p50":%d,"p90":%d,"p99":%d,"max":%d,"failed":%d,'
    .. '"socket_errors":%d}}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max, f, e.connect + e.read + e.write + e.timeout))
end
"""


def have_wrk() -> bool:
    """Whether wrk is on PATH."""
    return shutil.which("wrk") is not None


def run_load(
    url: str, workload: Workload, *, seconds: float, connections: int, server_pids: dict[str, int]
) -> LoadResult:
    """Drive url with the workload for `seconds` from `connections` keep-alive connections."""
    meter = CpuMeter(server_pids)
    if have_wrk():
        result = _run_wrk(url, workload, seconds, connections)
    else:
        from bench.pyload import run_pyload

        result = run_pyload(url, workload, seconds, connections)
    result.server_cpu = meter.shares()
    return result


def _run_wrk(url: str, workload: Workload, seconds: float, connections: int) -> LoadResult:
    with tempfile.TemporaryDirectory(prefix="orderly-bench-") as folder:
        script = Path(folder) / "load.lua"
        script.write_text(lua_script(workload))
        output_path = Path(folder) / "out.txt"
        duration = max(1, round(seconds))
        argv = [
            "wrk", "-t1", f"-c{connections}", f"-d{duration}s", "--timeout", "10s", "-s", str(script), url,
        ]
        started = time.monotonic()
        with output_path.open("wb") as output:
            process = subprocess.Popen(argv, stdout=output, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
            # wait4 hands back the child's own CPU time (utime + stime) with its exit status.
            deadline = started + duration + 30
            while True:
                pid, status, usage = os.wait4(process.pid, os.WNOHANG)
                if pid:
                    break
                if time.monotonic() > deadline:
                    process.kill()
                    pid, status, usage = os.wait4(process.pid, 0)
                    break
                time.sleep(0.05)
            process.returncode = os.waitstatus_to_exitcode(status)
        wall = time.monotonic() - started
        text = output_path.read_text(errors="replace")
    line = next((line for line in text.splitlines() if line.startswith(MARKER)), None)
    if line is None:
        raise RuntimeError(f"wrk gave no summary (exit {process.returncode}):\n{text}")
    summary = json.loads(line[len(MARKER):])
    return LoadResult(
        tool="wrk",
        requests=int(summary["requests"]),
        seconds=summary["duration_us"] / 1e6,
        p50_ms=summary["p50"] / 1000,
        p90_ms=summary["p90"] / 1000,
        p99_ms=summary["p99"] / 1000,
        max_ms=summary["max"] / 1000,
        failed=int(summary["failed"]),
        socket_errors=int(summary["socket_errors"]),
        loadgen_cpu=(usage.ru_utime + usage.ru_stime) / wall,
    )


if __name__ == "__main__":
    print(lua_script(Workload("demo", bodies=('{"query":"{ hello }"}',))), file=sys.stdout)
