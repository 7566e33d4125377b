"""A witness for the audit tests: its directory, served in-process on a free loopback port (a uvicorn thread)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import uvicorn

from accord.audit import checkpoint as checkpoints
from accord.config import WitnessSetting
from accord.witness import WitnessStore, make_app

WITNESS_NAME = "witness.test/w1"


def new_witness(directory: Path, hub, name: str = WITNESS_NAME) -> WitnessStore:  # noqa: ANN001
    """A witness directory that trusts this hub's checkpoint key."""
    store = WitnessStore.init(directory, name)
    store.trust(checkpoints.verifier_key(hub.settings.audit_origin, hub.signing_key.public_key()))
    return store


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def served(store: WitnessStore) -> Iterator[str]:
    """Serve the witness on loopback in a thread; yields its base URL."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(make_app(store.directory), log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.01)
    assert server.started, "the witness did not start"
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


def setting(store: WitnessStore, url: str) -> WitnessSetting:
    return WitnessSetting(name=store.name, url=url, key=store.verifier_key)
