"""The machine a benchmark ran on, recorded with its results (shared by the bench scripts)."""

from __future__ import annotations

import os
import platform
import time
from pathlib import Path


def _proc_field(path: str, prefix: str) -> str | None:
    try:
        for line in Path(path).read_text().splitlines():
            if line.startswith(prefix):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


ROOT = Path(__file__).resolve().parent.parent


def repo_path(path: Path | str) -> str:
    """A path as results record it: relative to the repository, never this machine's absolute path."""
    resolved = Path(path).resolve()
    return resolved.relative_to(ROOT).as_posix() if resolved.is_relative_to(ROOT) else resolved.name


def cpu_probe_seconds(iterations: int = 5_000_000) -> float:
    """Seconds one core takes for a fixed pure-Python loop: how fast the machine is right now.

    These are shared virtual machines whose speed drifts (the same loop took 1.6 s and then
    2.3 s within an hour, on an idle machine), so results record it beside the load.
    """
    started = time.perf_counter()
    total = 0
    for i in range(iterations):
        total += i
    return round(time.perf_counter() - started, 3)


def describe(**versions: str) -> dict:
    """Cores, CPU, memory, kernel, Python, the load and a CPU probe at the start, plus the versions given."""
    memory = _proc_field("/proc/meminfo", "MemTotal:")
    return {
        "nproc": os.cpu_count(),
        "cpu_model": _proc_field("/proc/cpuinfo", "model name") or "unknown",
        "memory_gb": round(int(memory.split()[0]) / 1024 / 1024, 1) if memory else None,
        "kernel": platform.release(),
        "python": platform.python_version(),
        **versions,
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        "cpu_probe_seconds": cpu_probe_seconds(),
    }
