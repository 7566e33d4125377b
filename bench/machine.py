"""The machine a benchmark ran on, recorded with its results (shared by the bench scripts)."""

from __future__ import annotations

import os
import platform
from pathlib import Path


def _proc_field(path: str, prefix: str) -> str | None:
    try:
        for line in Path(path).read_text().splitlines():
            if line.startswith(prefix):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def describe(**versions: str) -> dict:
    """Cores, CPU, memory, kernel, Python and the load at the start, plus the versions given."""
    memory = _proc_field("/proc/meminfo", "MemTotal:")
    return {
        "nproc": os.cpu_count(),
        "cpu_model": _proc_field("/proc/cpuinfo", "model name") or "unknown",
        "memory_gb": round(int(memory.split()[0]) / 1024 / 1024, 1) if memory else None,
        "kernel": platform.release(),
        "python": platform.python_version(),
        **versions,
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
    }
