"""What a process costs, read from /proc: CPU seconds so far and resident memory."""

from __future__ import annotations

import os
import platform
import subprocess
from pathlib import Path

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time the process has used (0.0 when it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    # After the command name: state is field 3, utime 14 and stime 15 (1-based).
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def rss_bytes(pid: int) -> int:
    """Resident set size (VmRSS) in bytes, 0 when the process is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


class CpuMeter:
    """CPU share of some processes over an interval, as a fraction of one core."""

    def __init__(self, pids: dict[str, int]) -> None:
        self._pids = pids
        self._start = {name: cpu_seconds(pid) for name, pid in pids.items()}
        self._t0 = _now()

    def shares(self) -> dict[str, float]:
        """name -> CPU seconds used per wall second since the meter was made."""
        elapsed = max(1e-9, _now() - self._t0)
        return {name: (cpu_seconds(pid) - self._start[name]) / elapsed for name, pid in self._pids.items()}


def _now() -> float:
    import time

    return time.monotonic()


def machine() -> dict[str, object]:
    """nproc, memory, CPU model and software versions of this machine."""
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = ""
    try:
        memory = subprocess.run(["free", "-h"], capture_output=True, text=True, timeout=5, check=False).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        pass
    return {
        "nproc": os.cpu_count(),
        "cpu_model": model,
        "memory": memory,
        "kernel": platform.release(),
        "python": platform.python_version(),
    }
