"""The witness (`accord witness`): C2SP tlog-witness add-checkpoint answers, cosignatures, and state that lasts.

The protocol is driven without a hub: a log key and an in-memory Merkle tree
sign the checkpoints. One test runs `accord witness serve` as a real process.
"""

from __future__ import annotations

import base64
import os
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from witness_support import free_port

import accord as accord_package
from accord.audit import merkle, note
from accord.audit.cosignature import Witness, cosigned_at
from accord.witness import WitnessError, WitnessStore, make_app

ORIGIN = "hub.test/audit"
WHEN = datetime(2026, 12, 1, tzinfo=UTC)
ACCORD = Path(sys.executable).parent / "accord"


class Log:
    """A log for the witness to watch: a key and a tree of n leaves."""

    def __init__(self, n: int = 16, tag: bytes = b"leaf") -> None:
        self.key = Ed25519PrivateKey.generate()
        self.tree = merkle.MemoryNodes(merkle.leaf_hash(tag + bytes([i])) for i in range(n))

    @property
    def verifier_key(self) -> str:
        return note.verifier_key(ORIGIN, self.key.public_key())

    def checkpoint(self, size: int, key: Ed25519PrivateKey | None = None) -> note.Checkpoint:
        return note.sign(key or self.key, ORIGIN, size, merkle.root(self.tree, size), WHEN)

    def request(self, old: int, size: int, *, proof_from: Log | None = None) -> str:
        source = (proof_from or self).tree
        proof = merkle.consistency_proof(source, old, size) if 0 < old < size else []
        lines = "".join(base64.b64encode(p).decode() + "\n" for p in proof)
        return f"old {old}\n{lines}\n{self.checkpoint(size).note}"


@pytest.fixture
def log() -> Log:
    return Log()


@pytest.fixture
def witness(tmp_path: Path, log: Log) -> WitnessStore:
    store = WitnessStore.init(tmp_path / "w", "witness.test/w1")
    store.trust(log.verifier_key)
    return store


def test_it_cosigns_the_first_checkpoint_and_each_consistent_one(witness: WitnessStore, log: Log) -> None:
    first = witness.add_checkpoint(log.request(0, 5))
    assert first.status == 200
    checkpoint = log.checkpoint(5)
    stamp = cosigned_at(checkpoint.note + first.body, checkpoint.body, Witness.from_key(witness.verifier_key))
    assert stamp is not None and abs(stamp - time.time()) < 60
    assert witness.add_checkpoint(log.request(5, 13)).status == 200
    assert witness.add_checkpoint(log.request(13, 13)).status == 200  # the same tree again: cosigned again
    assert (witness.latest(ORIGIN).size, witness.latest(ORIGIN).root) == (13, log.checkpoint(13).root_hash)


def test_the_cosignature_is_c2sp_cosignature_v1(witness: WitnessStore, log: Log) -> None:
    line = witness.add_checkpoint(log.request(0, 3)).body
    name, _, stamp = line.removeprefix("\u2014 ").rstrip("\n").partition(" ")
    raw = base64.b64decode(stamp)
    public = Witness.from_key(witness.verifier_key).public
    assert name == "witness.test/w1" and len(raw) == 4 + 8 + 64
    timestamp = int.from_bytes(raw[4:12], "big")
    signed = f"cosignature/v1\ntime {timestamp}\n{log.checkpoint(3).body}".encode()
    public.verify(raw[12:], signed)  # raises if not


def test_a_checkpoint_not_signed_by_the_known_log_key_is_refused_403(witness: WitnessStore, log: Log) -> None:
    impostor = log.checkpoint(5, key=Ed25519PrivateKey.generate())
    assert witness.add_checkpoint(f"old 0\n\n{impostor.note}").status == 403
    assert witness.latest(ORIGIN).size == 0


def test_an_unknown_log_is_404_and_a_malformed_request_400(witness: WitnessStore, log: Log) -> None:
    other = note.sign(log.key, "other.test/log", 1, merkle.root(log.tree, 1), WHEN)
    assert witness.add_checkpoint(f"old 0\n\n{other.note}").status == 404
    for bad in ["", "old 01\n\n" + log.checkpoint(2).note, "old 0\nnot base64!\n\n" + log.checkpoint(2).note,
                "old 3\n\n" + log.checkpoint(2).note, "new 0\n\n" + log.checkpoint(2).note]:
        assert witness.add_checkpoint(bad).status == 400, bad


def test_an_older_or_stale_old_size_is_409_with_the_witness_size(witness: WitnessStore, log: Log) -> None:
    assert witness.add_checkpoint(log.request(0, 8)).status == 200
    stale = witness.add_checkpoint(log.request(4, 12))
    assert (stale.status, stale.body, stale.content_type) == (409, "8\n", "text/x.tlog.size")
    older = witness.add_checkpoint(log.request(0, 6))
    assert (older.status, older.body) == (409, "8\n")
    assert witness.latest(ORIGIN).size == 8


def test_an_inconsistent_checkpoint_is_refused_422_and_kept_as_evidence(witness: WitnessStore, log: Log) -> None:
    assert witness.add_checkpoint(log.request(0, 8)).status == 200
    rewritten = Log(tag=b"rewritten")
    rewritten.key = log.key  # the log's own key signs a different history
    refused = witness.add_checkpoint(rewritten.request(8, 12))
    assert refused.status == 422
    same_size = witness.add_checkpoint(rewritten.request(8, 8))
    assert same_size.status == 409 and "another root" in same_size.body
    assert witness.latest(ORIGIN).size == 8
    assert [status for _, status, _ in witness.refusals()] == [422, 409]


def test_the_size_survives_a_restart(tmp_path: Path, witness: WitnessStore, log: Log) -> None:
    assert witness.add_checkpoint(log.request(0, 10)).status == 200
    again = WitnessStore(witness.directory)  # a new process would open it so
    assert again.latest(ORIGIN).size == 10
    assert again.add_checkpoint(log.request(0, 4)).status == 409
    assert WitnessStore.init(witness.directory, "witness.test/w1").verifier_key == witness.verifier_key  # not re-keyed
    with pytest.raises(WitnessError, match="already the witness"):
        WitnessStore.init(witness.directory, "witness.test/other")


def test_the_http_interface(witness: WitnessStore, log: Log) -> None:
    from starlette.testclient import TestClient

    with TestClient(make_app(witness.directory)) as client:
        assert client.get("/latest", params={"origin": ORIGIN}).status_code == 404
        reply = client.post("/add-checkpoint", content=log.request(0, 7))
        assert reply.status_code == 200 and reply.text.startswith("\u2014 witness.test/w1 ")
        stale = client.post("/add-checkpoint", content=log.request(3, 9))
        assert (stale.status_code, stale.text, stale.headers["content-type"]) == (409, "7\n", "text/x.tlog.size")
        latest = client.get("/latest", params={"origin": ORIGIN}).text
        assert latest == log.checkpoint(7).note + reply.text
        assert client.post("/add-checkpoint", content=b"x" * 70_000).status_code == 413
        assert client.post("/add-checkpoint", content=b"\xff\xfe").status_code == 400


def test_accord_witness_serve_runs_as_a_separate_process(tmp_path: Path, log: Log, accord) -> None:  # noqa: ANN001
    directory = tmp_path / "w"
    made = accord("witness", "init", "--dir", directory, "--name", "witness.test/proc", "--log", log.verifier_key)
    assert made.code == 0, made.err
    witness_key = made.out.strip()
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("ACCORD_")}
    env["PYTHONPATH"] = str(Path(accord_package.__file__).resolve().parents[1])  # this source, whatever the cwd
    server = subprocess.Popen([str(ACCORD), "witness", "serve", "--dir", str(directory), "--port", str(port)],
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"{url}/latest", timeout=1)
                break
            except httpx.HTTPError:
                assert time.monotonic() < deadline and server.poll() is None, server.stderr.read().decode()
                time.sleep(0.1)
        reply = httpx.post(f"{url}/add-checkpoint", content=log.request(0, 6), timeout=5)
        assert reply.status_code == 200
        checkpoint = log.checkpoint(6)
        assert cosigned_at(checkpoint.note + reply.text, checkpoint.body, Witness.from_key(witness_key)) is not None
    finally:
        server.terminate()
        server.wait(10)
        server.stdout.close()
        server.stderr.close()
    shown = accord("witness", "show", "--dir", directory)
    assert shown.code == 0 and f"{ORIGIN}\tsize 6\t" in shown.out


def test_witness_commands_refuse_bad_input_in_one_line(tmp_path: Path, accord) -> None:  # noqa: ANN001
    accord("witness", "show", "--dir", tmp_path / "none").assert_bad_input("is not a witness directory")
    accord("witness", "init", "--dir", tmp_path / "w", "--name", "no spaces please").assert_bad_input("must be like")
    assert accord("witness", "init", "--dir", tmp_path / "w2", "--name", "w.test/1").code == 0
    accord("witness", "trust", "--dir", tmp_path / "w2", "not-a-key").assert_bad_input("the log key is not valid")
    assert accord("witness", "serve", "--dir", tmp_path / "w2", "--port", "70000").code == 2
