"""A 1 GiB request to any route, unauthenticated, leaves the server's memory where it was (issue 13).

A real `accord serve` process on a loopback port is sent 1 GiB bodies, generated chunk by chunk,
to the public comments endpoint, /v1/decisions, an upload route, the token endpoint, an unknown
path and a page form: chunked (no Content-Length), with an honest 1 GiB Content-Length, and with a
lying small one. The client stops when the server answers or closes (or after a few seconds),
and the server's resident memory (/proc/PID/status), sampled throughout, stays within 50 MB of
where it started. Before the fix a `text/csv` body was read whole: +1.6 GB.
"""

from __future__ import annotations

import select
import socket
import threading
import time
from pathlib import Path

import pytest
from live_servers import resident_bytes, serving

GIB = 1 << 30
CHUNK = b"a,b,c,d\n" * 8192  # 64 KiB of CSV
ALLOWED_GROWTH = 50 * 1024 * 1024
SEND_SECONDS = 8.0  # per request, at most

TARGETS = [
    ("POST", "/register/agreements/debt-pilot-northshire/comments", "text/csv"),
    ("POST", "/v1/decisions", "text/csv"),
    ("PUT", "/v1/datasets/gro-deaths/records", "text/csv"),  # an upload route
    ("POST", "/oauth/token", "application/x-www-form-urlencoded"),
    ("POST", "/no/such/path", "text/csv"),
    ("POST", "/register/agreements/debt-pilot-northshire/comment", "application/x-www-form-urlencoded"),
]
FRAMINGS = ["chunked", "declared", "lying"]


def _send(port: int, method: str, path: str, content_type: str, framing: str) -> tuple[int, int | None]:
    """Stream up to 1 GiB; (bytes sent, the status the server answered, or None if it only closed)."""
    length = {"chunked": None, "declared": GIB, "lying": 1000}[framing]
    head = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", f"Content-Type: {content_type}"]
    head.append("Transfer-Encoding: chunked" if length is None else f"Content-Length: {length}")
    frame = (f"{len(CHUNK):x}\r\n".encode() + CHUNK + b"\r\n") if length is None else CHUNK
    sent = 0
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.settimeout(2)  # a server that stops reading blocks the send: that is a stop too
        sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode())
        deadline = time.monotonic() + SEND_SECONDS
        while sent < GIB and time.monotonic() < deadline:
            if select.select([sock], [], [], 0)[0]:
                break  # the server answered (or closed)
            try:
                sock.sendall(frame)
            except (TimeoutError, OSError):
                break
            sent += len(CHUNK)
        try:
            sock.settimeout(5)
            answer = sock.recv(64)
        except OSError:
            answer = b""
    status = int(answer.split()[1]) if answer.startswith(b"HTTP/1.1 ") else None
    return sent, status


def test_a_gibibyte_to_any_route_unauthenticated_leaves_memory_where_it_was(tmp_path: Path) -> None:
    with serving(tmp_path / "data", max_body_bytes="1048576") as server:
        pid = server.process.pid
        for method, path, content_type in TARGETS:  # warm up every route once with a small body
            _send_small(server.port, method, path, content_type)
        time.sleep(0.5)
        start = resident_bytes(pid)
        peak = start
        stop = threading.Event()

        def sample() -> None:
            nonlocal peak
            while not stop.is_set():
                peak = max(peak, resident_bytes(pid))
                time.sleep(0.005)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        answers = {}
        try:
            for method, path, content_type in TARGETS:
                for framing in FRAMINGS:
                    answers[(path, framing)] = _send(server.port, method, path, content_type, framing)
        finally:
            stop.set()
            sampler.join(5)
        peak = max(peak, resident_bytes(pid))
        assert server.process.poll() is None, "the server died"
    report = "\n".join(f"{path} [{framing}]: sent {sent >> 20} MiB, answered {status}"
                       for (path, framing), (sent, status) in answers.items())
    assert peak - start < ALLOWED_GROWTH, f"resident memory grew by {(peak - start) >> 20} MiB\n{report}"
    for (path, framing), (sent, status) in answers.items():
        assert status is None or 400 <= status < 500, f"{path} [{framing}] answered {status}\n{report}"
    # Refusals came early: the unauthenticated upload and decision were refused before their bodies were read.
    assert answers[("/v1/decisions", "chunked")][1] == 401, report
    assert answers[("/v1/datasets/gro-deaths/records", "chunked")][1] == 401, report
    assert answers[("/register/agreements/debt-pilot-northshire/comments", "chunked")][1] == 413, report
    assert answers[("/register/agreements/debt-pilot-northshire/comments", "declared")][1] == 413, report


def _send_small(port: int, method: str, path: str, content_type: str) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: {content_type}\r\n"
                     f"Content-Length: 3\r\nConnection: close\r\n\r\nx=1".encode())
        sock.recv(64)


pytestmark = pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads /proc/PID/status (Linux)")
