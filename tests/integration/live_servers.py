"""`accord serve` as a real server process on a free loopback port, for tests that need one (or two).

``serving(data_dir, ...)`` (or ``serving_together`` for several) starts it with a clean environment (only ``ACCORD_*`` settings the test
gives), waits for /health and stops it afterwards; ``resident_bytes(pid)`` reads its memory.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

ACCORD = Path(sys.executable).parent / "accord"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class LiveServer:
    process: subprocess.Popen
    port: int
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def status_value(pid: int, field: str) -> int:
    """A ``kB`` field of /proc/PID/status (VmRSS, VmHWM), in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) * 1024
    raise LookupError(field)


def resident_bytes(pid: int) -> int:
    return status_value(pid, "VmRSS")


@contextmanager
def serving(data_dir: Path, name: str = "server", **settings: str) -> Iterator[LiveServer]:
    """``accord serve`` on ``data_dir`` (plus ``ACCORD_<NAME>`` settings), until the block ends."""
    with serving_together([(data_dir, name)], **settings) as (server,):
        yield server


@contextmanager
def serving_together(places: list[tuple[Path, str]], **settings: str) -> Iterator[tuple[LiveServer, ...]]:
    """Several ``accord serve`` processes, started at once (each (data dir, name)), all sharing ``settings``."""
    servers = []
    try:
        for data_dir, name in places:
            servers.append(_start(data_dir, name, settings))
        for server in servers:
            _wait_for_health(server)
        yield tuple(servers)
    finally:
        for server in servers:
            _stop(server.process)


def _start(data_dir: Path, name: str, settings: dict[str, str]) -> LiveServer:
    data_dir.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("ACCORD_")}
    env.update({"ACCORD_DATA_DIR": str(data_dir), "ACCORD_ENVIRONMENT": "development", "ACCORD_JOB_WORKERS": "0",
                "ACCORD_EVENTS_DELIVER_IN_SERVER": "false"})
    env.update({f"ACCORD_{key.upper()}": value for key, value in settings.items()})
    port = free_port()
    log = data_dir.parent / f"{name}.log"
    with log.open("wb") as out:
        process = subprocess.Popen([str(ACCORD), "serve", "--host", "127.0.0.1", "--port", str(port)], env=env,
                                   stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    return LiveServer(process, port, log)


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)


def _wait_for_health(server: LiveServer) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            pytest.fail(f"the server exited with {server.process.returncode}:\n{server.log.read_text()}")
        try:
            if httpx.get(f"{server.url}/health", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    pytest.fail(f"the server did not answer /health within 60 s:\n{server.log.read_text()}")
