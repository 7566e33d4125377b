"""Several server processes on one port, each with its own listening socket (SO_REUSEPORT).

uvicorn's own ``--workers`` binds one socket in the parent and shares it. Every
worker's event loop then wakes for each new connection, and the first to call
``accept`` takes every connection waiting (asyncio accepts up to the backlog in
one go): in the verification benchmark, 30 of 32 keep-alive connections went
to one of two workers, and the second core sat idle. With SO_REUSEPORT each
worker listens on a socket of its own and the kernel spreads connections
across them by a hash of the client's address and port, so keep-alive clients
are shared out whatever the timing.

The supervisor here is deliberately small: start N spawned processes, wait,
restart one that dies (as uvicorn's supervisor does), and on SIGINT or SIGTERM
stop them all and wait for them to finish their requests. Where the platform
has no SO_REUSEPORT that balances (anything but Linux), ``accord serve`` uses
uvicorn's supervisor instead.
"""

from __future__ import annotations

import gc
import logging
import multiprocessing
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable
from multiprocessing.connection import wait

import uvicorn

log = logging.getLogger("accord.serve")
RESTART_PAUSE = 1.0  # seconds between restarts of a worker that keeps dying
STOP_TIMEOUT = 30.0


def balances_connections() -> bool:
    """Linux spreads connections across SO_REUSEPORT sockets; other systems may not."""
    return sys.platform.startswith("linux") and hasattr(socket, "SO_REUSEPORT")


def listening_socket(host: str, port: int, backlog: int = 2048) -> socket.socket:
    """A socket bound with SO_REUSEPORT, so each worker process can have its own on the same port."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto must be IPPROTO_TCP, not 0: asyncio switches Nagle's algorithm off (TCP_NODELAY)
    # only on sockets that say they are TCP, and accepted sockets inherit the listener's
    # proto. With 0, each response's second write waited for the client's delayed ACK:
    # 44 ms a request instead of 1 ms (uvicorn's --workers binds its socket that way).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
        sock.listen(backlog)
    except OSError:
        sock.close()
        raise
    return sock


# Young-generation collections every 20,000 allocations instead of 700, and the oldest
# generation a tenth as often as by default (which in 3.11 also waits until the objects
# awaiting it are a quarter of the long-lived ones).
GC_THRESHOLDS = (20_000, 50, 100)


def tune_gc_for_serving() -> None:
    """Keep the collector's pauses out of request latency, in a server process only.

    Everything alive once the app is built (modules, the framework, SQLAlchemy's
    mappers, pydantic's validators) is frozen out of the collector's reach, so a full
    collection walks only what requests created since. In the verification benchmark
    these pauses were the p99: 186 ms without, 87-109 ms with (docs/performance.md).
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


def _stop_when_orphaned(supervisor: int) -> None:
    """A worker whose supervisor was killed (SIGKILL gives it no chance to stop them) stops itself."""
    while os.getppid() == supervisor:
        time.sleep(1.0)
    os.kill(os.getpid(), signal.SIGTERM)


def serve_one(host: str, port: int, supervisor: int | None = None) -> None:
    """One worker process: its own socket, its own app (settings from the environment).

    ``supervisor`` is the supervisor's pid, passed in rather than read here: a worker
    still starting when the supervisor is killed would otherwise take init for it.
    """
    if supervisor is not None:
        if os.getppid() != supervisor:
            return  # the supervisor is already gone
        threading.Thread(target=_stop_when_orphaned, args=(supervisor,), name="accord-orphan-check",
                         daemon=True).start()
    sock = listening_socket(host, port)
    from accord.cli.serve import app_from_environment  # the face's factory; imported in the worker

    app = app_from_environment()
    tune_gc_for_serving()
    config = uvicorn.Config(app, log_level="warning", timeout_graceful_shutdown=int(STOP_TIMEOUT * 2 / 3))
    uvicorn.Server(config).run(sockets=[sock])


class Supervisor:
    def __init__(self, host: str, port: int, workers: int, target: Callable[[str, int, int], None] = serve_one) -> None:
        self.host, self.port, self.count, self.target = host, port, workers, target
        self._context = multiprocessing.get_context("spawn")
        self._processes: list[multiprocessing.process.BaseProcess] = []
        self._stopping = threading.Event()

    def _start(self) -> multiprocessing.process.BaseProcess:
        process = self._context.Process(target=self.target, args=(self.host, self.port, os.getpid()), daemon=False)
        process.start()
        return process

    def stop(self, *_: object) -> None:
        self._stopping.set()

    def run(self) -> int:
        previous = {sig: signal.signal(sig, self.stop) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            self._processes = [self._start() for _ in range(self.count)]
            while not self._stopping.is_set():
                wait([p.sentinel for p in self._processes], timeout=0.5)
                for index, process in enumerate(self._processes):
                    if process.exitcode is not None and not self._stopping.is_set():
                        log.warning("worker %s exited with %s; starting another", process.pid, process.exitcode)
                        time.sleep(RESTART_PAUSE)
                        self._processes[index] = self._start()
        finally:
            for process in self._processes:
                if process.exitcode is None:
                    process.terminate()  # SIGTERM: uvicorn finishes the requests in hand
            deadline = time.monotonic() + STOP_TIMEOUT
            for process in self._processes:
                process.join(max(0.0, deadline - time.monotonic()))
                if process.exitcode is None:
                    process.kill()
                    process.join()
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        return 0
