"""`accord serve --workers N` on Linux: a socket per worker, Nagle off, a supervisor that stops them all."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from accord.cli import serve_workers

pytestmark = pytest.mark.skipif(not serve_workers.balances_connections(), reason="SO_REUSEPORT balancing is Linux's")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_two_workers_can_listen_on_one_port() -> None:
    first = serve_workers.listening_socket("127.0.0.1", 0)
    port = first.getsockname()[1]
    second = serve_workers.listening_socket("127.0.0.1", port)
    try:
        assert second.getsockname()[1] == port
    finally:
        first.close()
        second.close()


def test_a_port_held_without_reuseport_is_refused() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        with pytest.raises(OSError):
            serve_workers.listening_socket("127.0.0.1", taken.getsockname()[1])


def test_accepted_connections_have_nagle_switched_off() -> None:
    """asyncio sets TCP_NODELAY only on sockets whose proto is TCP; a proto of 0 cost 40 ms a response."""
    nodelay: list[int] = []

    async def main() -> None:
        sock = serve_workers.listening_socket("127.0.0.1", 0)
        port = sock.getsockname()[1]
        accepted = asyncio.Event()

        class Probe(asyncio.Protocol):
            def connection_made(self, transport: asyncio.BaseTransport) -> None:
                raw = transport.get_extra_info("socket")
                nodelay.append(raw.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
                accepted.set()

        server = await asyncio.get_running_loop().create_server(Probe, sock=sock)
        _, writer = await asyncio.open_connection("127.0.0.1", port)
        await asyncio.wait_for(accepted.wait(), 5)
        writer.close()
        server.close()

    asyncio.run(main())
    assert nodelay and nodelay[0] != 0


def _children(pid: int) -> set[int]:
    """The worker processes (not multiprocessing's resource tracker, also a child)."""
    path = Path(f"/proc/{pid}/task/{pid}/children")
    found = set()
    for child in (int(p) for p in path.read_text().split()) if path.exists() else ():
        try:
            if b"--multiprocessing-fork" in Path(f"/proc/{child}/cmdline").read_bytes():
                found.add(child)
        except FileNotFoundError:
            continue
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def _wait_until(check, timeout: float) -> bool:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.1)
    return check()


@pytest.fixture
def supervisor(tmp_path: Path):  # noqa: ANN201 - a real `accord serve --workers 2` in a subprocess
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("ACCORD_")}
    env.update({"ACCORD_DATA_DIR": str(tmp_path / "data"), "NO_COLOR": "1"})
    accord = Path(sys.executable).with_name("accord")
    process = subprocess.Popen([str(accord), "serve", "--port", str(port), "--workers", "2"], env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def healthy() -> bool:
        try:
            return httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        assert _wait_until(healthy, 90), process.stderr.read().decode() if process.poll() is not None else "no answer"
        yield process, port
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)


def test_a_dead_worker_is_replaced_and_sigterm_stops_them_all(supervisor) -> None:  # noqa: ANN001
    process, port = supervisor
    workers = _children(process.pid)
    assert len(workers) == 2
    # Sixteen connections at once are all answered, whichever worker the kernel gave each to.
    clients = [httpx.Client(base_url=f"http://127.0.0.1:{port}") for _ in range(16)]
    try:
        assert all(client.get("/health").status_code == 200 for client in clients)
    finally:
        for client in clients:
            client.close()
    victim = min(workers)
    os.kill(victim, signal.SIGKILL)
    assert _wait_until(lambda: len(_children(process.pid) - {victim}) == 2, 30)
    assert httpx.get(f"http://127.0.0.1:{port}/health", timeout=5).status_code == 200
    workers = _children(process.pid)
    process.send_signal(signal.SIGTERM)
    assert process.wait(40) == 0
    assert _wait_until(lambda: not any(_alive(pid) for pid in workers), 10)


def test_workers_stop_themselves_when_the_supervisor_is_killed(supervisor) -> None:  # noqa: ANN001
    process, _ = supervisor
    workers = _children(process.pid)
    assert len(workers) == 2
    process.kill()  # SIGKILL: the supervisor cannot stop them
    process.wait(10)
    assert _wait_until(lambda: not any(_alive(pid) for pid in workers), 30)


def test_tuning_the_collector_freezes_what_exists_and_raises_the_thresholds() -> None:
    """Run in a child process: freezing in the test process would keep every test's objects alive."""
    code = (
        "import gc\n"
        "from accord.cli import serve_workers\n"
        "before = gc.get_freeze_count()\n"
        "serve_workers.tune_gc_for_serving()\n"
        "assert gc.get_freeze_count() > before, gc.get_freeze_count()\n"
        "assert gc.get_threshold() == serve_workers.GC_THRESHOLDS, gc.get_threshold()\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
