"""Audit log benchmark: durable appends per second, and proof times at 1M and 10M leaves.

Run on demand, never as a test:

    .venv/bin/python bench/audit.py            # full run (several minutes)
    .venv/bin/python bench/audit.py --quick    # smoke test (< 30 s)
    .venv/bin/python bench/audit.py --leaves 1000000,10000000 --threads 1,4,16 --seconds 5

Targets (from the issue): >= 1,500 durable appends/s on 2 cores with group
commit; inclusion proofs in < 5 ms at 1M and 10M leaves.

Every figure is printed next to a baseline measured in the same process run,
because the machines are shared and absolute times drift:

* appends: a plain ``sqlite3`` loop, one INSERT + COMMIT per row of the same
  canonical payloads, on a separate file with the same PRAGMAs (and a plain
  psycopg loop on PostgreSQL);
* proofs: fetching one row of ``audit_nodes`` by primary key (raw sqlite3,
  and through a SQLAlchemy session), the floor of any database-backed proof.

Results go to bench/results/audit-<date>[-quick].json; docs/performance.md
summarises them.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import random
import shutil
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import event, func, select, text

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from accord.audit import merkle  # noqa: E402
from accord.audit.log import AuditRecord, append, canonical  # noqa: E402
from accord.audit.store import SqlNodes, head  # noqa: E402
from accord.clock import utcnow  # noqa: E402
from accord.config import load_settings  # noqa: E402
from accord.runtime import Hub  # noqa: E402
from accord.services import audit as audit_service  # noqa: E402
from accord.storage.models import AuditEntry, AuditHead, AuditNode  # noqa: E402
from machine import describe  # noqa: E402 - bench/machine.py, beside this script

RESULTS = ROOT / "bench" / "results"
POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
SEED = 20240601

# --------------------------------------------------------------------------- helpers


def say(message: str = "") -> None:
    print(message, flush=True)


def pct(values: list[float], p: float) -> float:
    """Nearest-rank percentile of ``values`` (seconds), in milliseconds."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(p / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank] * 1000


def summary_ms(values: list[float]) -> dict:
    return {
        "n": len(values),
        "mean_ms": round(statistics.fmean(values) * 1000, 4) if values else None,
        "p50_ms": round(pct(values, 50), 4),
        "p95_ms": round(pct(values, 95), 4),
        "p99_ms": round(pct(values, 99), 4),
        "max_ms": round(max(values) * 1000, 4) if values else None,
    }


def fmt_ms(s: dict) -> str:
    return f"p50 {s['p50_ms']:.3f}  p95 {s['p95_ms']:.3f}  p99 {s['p99_ms']:.3f}  mean {s['mean_ms']:.3f} ms"


def machine() -> dict:
    import sqlalchemy

    return describe(sqlite=sqlite3.sqlite_version, sqlalchemy=sqlalchemy.__version__)


def source_state() -> dict:
    """The commit measured, and which files under src/ differ from it (the benchmark measures the working tree)."""
    import subprocess

    def git(*args: str) -> str:
        try:
            return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=10).stdout
        except (OSError, subprocess.SubprocessError):
            return ""

    digest = hashlib.sha256()  # over the code this benchmark exercises
    src = ROOT / "src" / "accord"
    measured = [*(src / "audit").rglob("*.py"), *(src / "storage").rglob("*.py")]
    measured += [src / "services" / "audit.py", src / "runtime.py", src / "config.py"]
    for path in sorted(p for p in measured if p.exists()):
        digest.update(str(path.relative_to(ROOT)).encode() + b"\0" + path.read_bytes())
    return {
        "commit": git("rev-parse", "HEAD").strip() or None,
        "src_changes": [line[3:] for line in git("status", "--porcelain", "src").splitlines() if line.strip()],
        "src_digest": digest.hexdigest()[:16],
    }


def open_hub(data_dir: Path, database_url: str | None = None) -> Hub:
    overrides: dict = {"data_dir": data_dir, "environment": "test"}
    if database_url:
        overrides["database_url"] = database_url
    return Hub.open(load_settings(**overrides))


def force_sqlite_sync(hub: Hub, mode: str) -> None:
    """Make every pooled connection use PRAGMA synchronous=<mode> (after the built-in PRAGMAs)."""

    def _set(dbapi_connection, _record) -> None:  # noqa: ANN001
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA synchronous={mode}")
        cursor.close()

    event.listen(hub.engine, "connect", _set)
    hub.engine.dispose()  # drop connections made (by the migrations) with the old setting
    with hub.engine.connect() as conn:
        got = conn.exec_driver_sql("PRAGMA synchronous").scalar()
    expected = {"OFF": 0, "NORMAL": 1, "FULL": 2, "EXTRA": 3}[mode]
    assert got == expected, f"PRAGMA synchronous is {got}, wanted {expected}"


# --------------------------------------------------------------------------- records

BODIES = ["dwp", "hmrc", "dfe", "moj", "nhs-digital", "ons", "home-office", "leeds-cc"]
PURPOSES = [
    "Identify households eligible for the Warm Home Discount",
    "Check eligibility for free school meals",
    "Target support to families with multiple disadvantages",
    "Reduce fraud against the public sector",
]
FIELDS = ["name", "date_of_birth", "address", "postcode", "benefit_status", "household_income", "school_urn", "nino"]
REASONS = [
    "agreement covers the purpose",
    "body is a named party",
    "fields are within the agreement",
    "gateway permits the objective",
    "dataset is shared under the agreement",
]


def record_pool(size: int, rng: random.Random) -> list[AuditRecord]:
    """Realistic access.decision records: 1-3 pseudonymous subjects, 5 fields, reasons, details."""
    people = [
        "pk_" + base64.b32encode(hashlib.sha256(f"person-{i}".encode()).digest()[:20]).decode().lower()
        for i in range(5000)
    ]
    now = datetime.now(UTC)
    pool = []
    for i in range(size):
        body = rng.choice(BODIES)
        allowed = rng.random() < 0.9
        fields = tuple(rng.sample(FIELDS, 5))
        pool.append(
            AuditRecord(
                kind="access.decision",
                occurred_at=now + timedelta(microseconds=i),
                outcome="allow" if allowed else "deny",
                body_id=body,
                actor=f"officer-{rng.randrange(1000):04d}@{body}.gov.uk",
                purpose=rng.choice(PURPOSES),
                purpose_iri="https://w3id.org/dpv#ServiceProvision",
                agreement_id=f"agr-{rng.randrange(200):04d}",
                action="read",
                dataset_id=f"ds-{body}-{rng.randrange(20):02d}",
                subjects=tuple(rng.sample(people, rng.randint(1, 3))),
                fields=fields if allowed else (),
                records=rng.randint(1, 3),
                reasons=tuple(rng.sample(REASONS, 3)),
                request_id=str(uuid.UUID(int=rng.getrandbits(128))),
                details={"fields_requested": list(fields), "removed_fields": []},
            )
        )
    return pool


# --------------------------------------------------------------------------- appends


def run_threads(threads: int, seconds: float, work: Callable[[int], Callable[[], None]]) -> dict:
    """Run ``threads`` workers calling their unit of work until ``seconds`` pass; count and time each unit."""
    start_barrier = threading.Barrier(threads + 1)
    latencies: list[list[float]] = [[] for _ in range(threads)]
    errors: list[BaseException] = []
    deadline = [0.0]

    def body(n: int) -> None:
        unit = work(n)
        mine = latencies[n]
        start_barrier.wait()
        clock = time.perf_counter
        end = deadline[0]
        try:
            while True:
                t0 = clock()
                if t0 >= end:
                    break
                unit()
                mine.append(clock() - t0)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    workers = [threading.Thread(target=body, args=(n,), daemon=True) for n in range(threads)]
    for w in workers:
        w.start()
    cpu0 = time.process_time()
    began = time.perf_counter()
    deadline[0] = began + seconds
    start_barrier.wait()
    for w in workers:
        w.join()
    elapsed = time.perf_counter() - began
    cpu = time.process_time() - cpu0
    if errors:
        raise RuntimeError(f"{len(errors)} worker(s) failed: {errors[0]!r}") from errors[0]
    merged = [x for per in latencies for x in per]
    return {
        "threads": threads,
        "seconds": round(elapsed, 3),
        "commits": len(merged),
        "per_second": round(len(merged) / elapsed, 1),
        "latency": summary_ms(merged),
        # CPU time of this whole process (all threads) per unit: a figure the machine's load hardly moves
        "cpu_seconds": round(cpu, 3),
        "cpu_ms_per_unit": round(cpu / len(merged) * 1000, 4) if merged else None,
    }


def baseline_sqlite(
    path: Path, sync: str, threads: int, seconds: float, payloads: list[str], group: int = 1
) -> dict:
    """Plain sqlite3: one INSERT + COMMIT per row (or per ``group`` rows), WAL, synchronous=<sync>."""
    setup = sqlite3.connect(path)
    setup.execute("PRAGMA journal_mode=WAL")
    setup.execute(
        "CREATE TABLE IF NOT EXISTS entries (id INTEGER PRIMARY KEY, occurred_at TEXT NOT NULL, "
        "kind TEXT NOT NULL, body_id TEXT, payload TEXT NOT NULL)"
    )
    setup.commit()
    setup.close()
    connections: list[sqlite3.Connection] = []

    def work(n: int) -> Callable[[], None]:
        conn = sqlite3.connect(path, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute(f"PRAGMA synchronous={sync}")
        conn.execute("PRAGMA busy_timeout=10000")
        connections.append(conn)
        rng = random.Random(SEED + n)
        sql = "INSERT INTO entries (occurred_at, kind, body_id, payload) VALUES (?, 'access.decision', ?, ?)"

        rows = [0]

        def unit() -> None:
            conn.execute(sql, (datetime.now(UTC).isoformat(), "dwp", payloads[rng.randrange(len(payloads))]))
            rows[0] += 1
            if rows[0] % group == 0:
                conn.commit()

        return unit

    result = run_threads(threads, seconds, work)
    for conn in connections:
        conn.commit()
        conn.close()
    for leftover in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        leftover.unlink(missing_ok=True)
    result["rows_per_commit"] = group
    return result


def has_group_commit(hub: Hub) -> bool:
    return hasattr(hub, "group_commit")


def hub_appends(
    hub: Hub, threads: int, seconds: float, pool: list[AuditRecord], interval: float, path: str = "transaction"
) -> dict:
    """Durable appends while the sequencer integrates in the background.

    path "transaction": each append is its own committed transaction (``hub.transaction()``).
    path "group_commit": each append is handed to ``hub.group_commit.run`` and returns once the
    shared transaction holding it has committed, as API writes do when the hub has a group committer.
    """
    with hub.transaction() as s:
        before_entries = s.scalar(select(func.count()).select_from(AuditEntry))
        before_size, _ = head(s)
    assert before_entries == before_size, "start from a fully integrated log"
    connects = [0]

    def on_connect(*_args) -> None:  # noqa: ANN002
        connects[0] += 1

    event.listen(hub.engine, "connect", on_connect)
    stop = threading.Event()
    passes: list[tuple[int, float]] = []
    integrate_errors: list[BaseException] = []

    def integrator() -> None:  # what AuditWorker does, minus checkpoints
        while not stop.wait(interval):
            t0 = time.perf_counter()
            try:
                passes.append((audit_service.integrate_now(hub), time.perf_counter() - t0))
            except BaseException as exc:  # noqa: BLE001
                integrate_errors.append(exc)
                return

    def work(n: int) -> Callable[[], None]:
        rng = random.Random(SEED * 7 + n)

        if path == "group_commit":
            committer = hub.group_commit

            def unit() -> None:
                record = pool[rng.randrange(len(pool))]
                committer.run(lambda session: append(session, record))

        else:

            def unit() -> None:
                record = pool[rng.randrange(len(pool))]
                with hub.transaction() as session:
                    append(session, record)

        return unit

    committer_before = (hub.group_commit.batches, hub.group_commit.units) if path == "group_commit" else None
    worker = threading.Thread(target=integrator, daemon=True)
    began = time.perf_counter()
    worker.start()
    result = run_threads(threads, seconds, work)
    writers_done = time.perf_counter()
    stop.set()
    worker.join()
    if integrate_errors:
        raise RuntimeError(f"integration failed: {integrate_errors[0]!r}") from integrate_errors[0]
    drained = 0
    while True:
        t0 = time.perf_counter()
        n = audit_service.integrate_now(hub)
        passes.append((n, time.perf_counter() - t0))
        drained += n
        if n == 0:
            break
    all_done = time.perf_counter()
    event.remove(hub.engine, "connect", on_connect)
    with hub.transaction() as s:
        entries = s.scalar(select(func.count()).select_from(AuditEntry))
        pending = s.scalar(select(func.count()).select_from(AuditEntry).where(AuditEntry.leaf_index.is_(None)))
        size, _ = head(s)
    appended = entries - before_entries
    assert appended == result["commits"], (appended, result["commits"])
    assert pending == 0 and size == entries, (pending, size, entries)
    busy = [p for p in passes if p[0]]
    result.update(
        {
            "integrated": size - before_size,
            "integrated_during_run": size - before_size - drained,
            "integrate_passes": len(busy),
            "integrate_seconds_total": round(sum(p[1] for p in passes), 3),
            "largest_pass_entries": max((p[0] for p in passes), default=0),
            "drain_seconds": round(all_done - writers_done, 3),
            "end_to_end_seconds": round(all_done - began, 3),
            "end_to_end_per_second": round(appended / (all_done - began), 1),
            "new_connections": connects[0],
            "path": path,
        }
    )
    if committer_before is not None:
        batches = hub.group_commit.batches - committer_before[0]
        units = hub.group_commit.units - committer_before[1]
        result["group_commit_batches"] = batches
        result["group_commit_mean_batch"] = round(units / batches, 2) if batches else None
    return result


def integrate_throughput(hub: Hub, pool: list[AuditRecord], count: int) -> dict:
    """Append ``count`` entries in one transaction, then time the sequencer integrating them."""
    with hub.transaction() as session:
        for i in range(count):
            append(session, pool[i % len(pool)])
    t0 = time.perf_counter()
    done = audit_service.integrate_now(hub)
    elapsed = time.perf_counter() - t0
    assert done == count, (done, count)
    return {"entries": count, "seconds": round(elapsed, 3), "per_second": round(count / elapsed, 1)}


def fsync_probe(tmp: Path, seconds: float = 1.0) -> dict:
    """Latency of write(4 KiB) + fdatasync on the temp file system: the price of one durable commit."""
    path = tmp / "fsync-probe"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    block = os.urandom(4096)
    times = []
    try:
        end = time.perf_counter() + seconds
        while time.perf_counter() < end:
            t0 = time.perf_counter()
            os.pwrite(fd, block, (len(times) % 256) * 4096)
            os.fdatasync(fd)
            times.append(time.perf_counter() - t0)
    finally:
        os.close(fd)
        path.unlink(missing_ok=True)
    return summary_ms(times)


def bench_sqlite_appends(args: argparse.Namespace, tmp: Path, pool: list[AuditRecord]) -> dict:
    payloads = [canonical(r) for r in pool]
    probe = fsync_probe(tmp)
    say(f"  fsync probe (4 KiB write + fdatasync): {fmt_ms(probe)}")
    out: dict = {
        "what": "durable appends/s: path 'transaction' = one append per committed transaction "
        "(hub.transaction + log.append); path 'group_commit' = log.append handed to hub.group_commit.run, "
        "returning after the shared commit; the sequencer integrating every audit_integrate_seconds in a "
        "background thread; "
        "baseline: plain sqlite3, one INSERT + COMMIT per row of the same payloads, same PRAGMAs",
        "payload_bytes_mean": round(statistics.fmean(len(p.encode()) for p in payloads)),
        "subjects_per_entry_mean": round(statistics.fmean(len(r.subjects) for r in pool), 2),
        "fsync_probe_before": probe,
        "runs": [],
    }
    for sync in args.sync:
        hub_dir = tmp / f"appends-{sync.lower()}"
        hub = open_hub(hub_dir)
        force_sqlite_sync(hub, sync)
        interval = hub.settings.audit_integrate_seconds
        paths = ["transaction", "group_commit"] if has_group_commit(hub) else ["transaction"]
        for threads in args.threads:
            base = baseline_sqlite(tmp / f"baseline-{sync.lower()}-{threads}.db", sync, threads, args.seconds, payloads)
            for path in paths:
                res = hub_appends(hub, threads, args.seconds, pool, interval, path)
                run = {
                    "synchronous": sync,
                    "threads": threads,
                    "path": path,
                    "integrate_interval_s": interval,
                    "hub": res,
                    "baseline": base,
                }
                out["runs"].append(run)
                batch = f", mean batch {res['group_commit_mean_batch']}" if path == "group_commit" else ""
                say(
                    f"  SQLite synchronous={sync:<6} threads={threads:>2} {path:<12}: hub {res['per_second']:>7.0f} "
                    f"commits/s (p50 {res['latency']['p50_ms']:.2f} ms, p99 {res['latency']['p99_ms']:.2f} ms, "
                    f"{res['cpu_ms_per_unit']:.2f} CPU ms each{batch}), end-to-end integrated "
                    f"{res['end_to_end_per_second']:>7.0f}/s | baseline {base['per_second']:>7.0f}/s "
                    f"(p99 {base['latency']['p99_ms']:.2f} ms) -> hub/baseline {res['per_second'] / base['per_second']:.2f}"
                )
        grouped = baseline_sqlite(tmp / f"grouped-{sync.lower()}.db", sync, 1, args.seconds, payloads, group=50)
        out.setdefault("baseline_grouped", {})[sync] = grouped
        say(
            f"  SQLite synchronous={sync:<6} plain sqlite3, 1 thread, COMMIT every 50 rows (a group-commit ceiling): "
            f"{grouped['per_second']:>7.0f} rows/s"
        )
        with hub.transaction() as s:
            size, _ = head(s)
        out.setdefault("tree_size_after", {})[sync] = size
        hub.close()
        shutil.rmtree(hub_dir, ignore_errors=True)

    out["fsync_probe_after"] = fsync_probe(tmp)
    say(f"  fsync probe again: {fmt_ms(out['fsync_probe_after'])}")
    hub_dir = tmp / "integrate"
    hub = open_hub(hub_dir)
    out["integrate"] = integrate_throughput(hub, pool, args.integrate_count)
    hub.close()
    shutil.rmtree(hub_dir, ignore_errors=True)
    say(
        f"  sequencer alone: integrated {out['integrate']['entries']} pending entries in "
        f"{out['integrate']['seconds']:.2f} s = {out['integrate']['per_second']:.0f} entries/s"
    )
    return out


# --------------------------------------------------------------------------- PostgreSQL


def bench_postgres(args: argparse.Namespace, tmp: Path, pool: list[AuditRecord]) -> dict | None:
    try:
        import psycopg
        from sqlalchemy.engine import make_url
    except ImportError:
        return {"skipped": "psycopg is not installed"}
    url = make_url(args.postgres)
    plain = url.set(drivername="postgresql")
    admin_dsn = plain.render_as_string(hide_password=False)
    name = f"accord_bench_{os.getpid()}"
    try:
        admin = psycopg.connect(admin_dsn, autocommit=True, connect_timeout=3)
    except Exception as exc:  # noqa: BLE001 - optional section
        say(f"  PostgreSQL not reachable at {args.postgres}: {exc.__class__.__name__}; skipped")
        return {"skipped": f"not reachable: {exc.__class__.__name__}"}
    out: dict = {"url": plain.set(database=name).render_as_string(hide_password=True), "runs": []}
    try:
        out["server_version"] = admin.execute("SHOW server_version").fetchone()[0]
        for setting in ("fsync", "synchronous_commit", "wal_sync_method", "commit_delay", "shared_buffers"):
            out[setting] = admin.execute(f"SHOW {setting}").fetchone()[0]
        admin.execute(f'CREATE DATABASE "{name}"')
        bench_url = url.set(database=name).render_as_string(hide_password=False)
        dsn = plain.set(database=name).render_as_string(hide_password=False)
        hub = open_hub(tmp / "postgres", bench_url)
        payloads = [canonical(r) for r in pool]
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(
                "CREATE TABLE bench_entries (id BIGSERIAL PRIMARY KEY, occurred_at TIMESTAMPTZ NOT NULL, "
                "kind TEXT NOT NULL, body_id TEXT, payload TEXT NOT NULL)"
            )
        connections: list = []

        def work(n: int) -> Callable[[], None]:
            conn = psycopg.connect(dsn)
            connections.append(conn)
            rng = random.Random(SEED + n)
            sql = "INSERT INTO bench_entries (occurred_at, kind, body_id, payload) VALUES (%s, 'access.decision', %s, %s)"

            def unit() -> None:
                conn.execute(sql, (datetime.now(UTC), "dwp", payloads[rng.randrange(len(payloads))]))
                conn.commit()

            return unit

        try:
            for threads in args.threads:
                base = run_threads(threads, args.pg_seconds, work)
                for conn in connections:
                    conn.close()
                connections.clear()
                for path in ["transaction", "group_commit"] if has_group_commit(hub) else ["transaction"]:
                    res = hub_appends(hub, threads, args.pg_seconds, pool, hub.settings.audit_integrate_seconds, path)
                    out["runs"].append({"threads": threads, "path": path, "hub": res, "baseline": base})
                    say(
                        f"  PostgreSQL threads={threads:>2} {path:<12}: hub {res['per_second']:>7.0f} commits/s "
                        f"(p50 {res['latency']['p50_ms']:.2f} ms, p99 {res['latency']['p99_ms']:.2f} ms), "
                        f"end-to-end integrated {res['end_to_end_per_second']:>7.0f}/s | baseline "
                        f"{base['per_second']:>7.0f}/s -> hub/baseline {res['per_second'] / base['per_second']:.2f}"
                    )
        finally:
            for conn in connections:
                conn.close()
            hub.close()
    finally:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()
    return out


# --------------------------------------------------------------------------- proofs


def synthetic_payload(i: int) -> bytes:
    return b'{"kind":"synthetic","seq":%d}' % i


def build_tree(db: Path, n: int, chunk_bits: int = 14) -> bytes:
    """Write every complete subtree hash of an n-leaf tree into audit_nodes; return the root.

    Leaves are hashed in aligned chunks of 2**chunk_bits and each chunk's
    subtrees are computed level by level and inserted (as the sequencer
    inserts a batch's nodes interleaved by level); the chunk roots are then
    combined into the levels above.
    """
    leaf_hash, node_hash = merkle.leaf_hash, merkle.node_hash
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("PRAGMA journal_mode=DELETE")  # bulk load only; WAL is restored below
    conn.execute("PRAGMA synchronous=OFF")
    conn.execute("PRAGMA cache_size=-262144")
    insert = "INSERT INTO audit_nodes (level, idx, hash) VALUES (?, ?, ?)"
    chunk = 1 << chunk_bits
    tops: list[bytes] = []
    rows: list[tuple[int, int, bytes]] = []
    conn.execute("BEGIN")
    for base in range(0, n, chunk):
        hashes = [leaf_hash(synthetic_payload(i)) for i in range(base, min(base + chunk, n))]
        complete = len(hashes) == chunk
        level, first = 0, base
        rows.extend(zip([0] * len(hashes), range(base, base + len(hashes)), hashes))
        while len(hashes) > 1:
            hashes = [node_hash(hashes[k], hashes[k + 1]) for k in range(0, len(hashes) - 1, 2)]
            level, first = level + 1, first >> 1
            rows.extend(zip([level] * len(hashes), range(first, first + len(hashes)), hashes))
        if complete:
            tops.append(hashes[0])
        if len(rows) >= 1_000_000:
            conn.executemany(insert, rows)
            rows.clear()
            conn.execute("COMMIT")
            conn.execute("BEGIN")
    level, hashes = chunk_bits, tops
    while len(hashes) > 1:
        hashes = [node_hash(hashes[k], hashes[k + 1]) for k in range(0, len(hashes) - 1, 2)]
        level += 1
        rows.extend(zip([level] * len(hashes), range(len(hashes)), hashes))
    conn.executemany(insert, rows)
    conn.execute("COMMIT")
    conn.execute("PRAGMA journal_mode=WAL")
    conn.close()
    # the root folds the maximal complete subtrees (RFC 6962), read back from what was written
    conn = sqlite3.connect(db)
    keys = merkle.decompose(0, n)
    found = {}
    for level, idx in keys:
        (found[(level, idx)],) = conn.execute(
            "SELECT hash FROM audit_nodes WHERE level = ? AND idx = ?", (level, idx)
        ).fetchone()
    conn.close()
    root = found[keys[-1]]
    for key in reversed(keys[:-1]):
        root = node_hash(found[key], root)
    return root


class IndexedNodes:
    """NOT Accord's code: a reference lookup that seeks audit_nodes' primary key.

    Kept from the investigation of proof times: until commit 2827456, SqlNodes
    looked keys up with ``tuple_(level, idx).in_(...)``, which SQLAlchemy renders
    on SQLite as ``(level, idx) IN (VALUES ...)`` and SQLite 3.40 answers with a
    full scan of audit_nodes. The same list written as
    ``(level, idx) IN (SELECT column1, column2 FROM (VALUES ...))`` is answered by
    primary key seeks; this measures that form next to Accord's own.
    """

    def __init__(self, session) -> None:  # noqa: ANN001
        self.session = session

    def nodes(self, keys) -> dict:  # noqa: ANN001
        wanted = sorted(set(keys))
        found = {}
        for start in range(0, len(wanted), 400):
            chunk = wanted[start : start + 400]
            values = ", ".join(f"(:l{j}, :i{j})" for j in range(len(chunk)))
            params = {}
            for j, (level, idx) in enumerate(chunk):
                params[f"l{j}"], params[f"i{j}"] = level, idx
            query = text(
                "SELECT level, idx, hash FROM audit_nodes "
                f"WHERE (level, idx) IN (SELECT column1, column2 FROM (VALUES {values}))"
            )
            for level, idx, value in self.session.execute(query, params):
                found[(level, idx)] = bytes(value)
        return found


def inclusion_indexed(hub: Hub, leaf_index: int) -> dict:
    """services.audit.inclusion's work (fresh transaction, head, leaf, path, root) over IndexedNodes."""
    with hub.transaction() as session:
        size, _ = head(session)
        nodes = IndexedNodes(session)
        leaf = nodes.nodes([(0, leaf_index)])[(0, leaf_index)]
        proof = merkle.inclusion_proof(nodes, leaf_index, size)
        root = merkle.root(nodes, size)
    return {"leaf_hash": leaf, "root_hash": root, "proof": proof}


def time_calls(fn: Callable[[int], object], count: int, budget: float, warmup: int = 5) -> tuple[list[float], list]:
    """Time fn(0), fn(1), ... up to ``count`` calls or until ``budget`` seconds have been spent."""
    clock = time.perf_counter
    stop = clock() + budget / 10
    for j in range(min(warmup, count)):
        fn(j)
        if clock() > stop:
            break
    times, results = [], []
    stop = clock() + budget
    for j in range(count):
        t0 = clock()
        r = fn(j)
        t1 = clock()
        times.append(t1 - t0)
        results.append(r)
        if t1 > stop:
            break
    return times, results


def sample(values: list, most: int = 100) -> range:
    return range(0, len(values), max(1, len(values) // most))


def bench_proofs(args: argparse.Namespace, tmp: Path, n: int, pool: list[AuditRecord]) -> dict:
    data_dir = tmp / f"proofs-{n}"
    db = data_dir / "accord.db"
    need = n * 2 * 110  # bytes: ~2 node rows per leaf, table + primary key index, with margin
    free = shutil.disk_usage(tmp).free
    if free < need * 1.5:
        say(f"  {n:,} leaves: skipped, needs ~{need / 1e9:.1f} GB, {free / 1e9:.1f} GB free in {tmp}")
        return {"leaves": n, "skipped": f"not enough disk: need ~{need / 1e9:.1f} GB, {free / 1e9:.1f} GB free"}
    hub = open_hub(data_dir)  # creates the real schema by running the migrations
    hub.close()
    t0 = time.perf_counter()
    root = build_tree(db, n)
    build_seconds = time.perf_counter() - t0
    size_bytes = db.stat().st_size
    hub = open_hub(data_dir)
    with hub.transaction() as s:
        row = s.get(AuditHead, 1)
        row.tree_size, row.root_hash, row.updated_at = n, root, utcnow()
    with hub.transaction() as s:
        rows = s.scalar(select(func.count()).select_from(AuditNode))
    say(
        f"  {n:,} leaves: built {rows:,} node rows in {build_seconds:.1f} s "
        f"({size_bytes / 1e9:.2f} GB of SQLite)"
    )
    if n <= 100_000:  # cross-check the bulk build against the library's own tree
        memory = merkle.MemoryNodes(merkle.leaf_hash(synthetic_payload(i)) for i in range(n))
        assert merkle.root(memory, n) == root, "bulk-built root differs from MemoryNodes"

    rng = random.Random(SEED + n)
    k, budget = args.proofs, args.proof_budget
    leaves = [rng.randrange(n) for _ in range(k)]
    firsts = [rng.randrange(1, n) for _ in range(k)]
    keys = [(0, rng.randrange(n)) for _ in range(k)]
    out: dict = {"leaves": n, "node_rows": rows, "db_bytes": size_bytes, "build_seconds": round(build_seconds, 1)}

    # baseline 1: raw sqlite3, one row by primary key
    raw = sqlite3.connect(db)
    raw.execute("PRAGMA journal_mode=WAL")
    raw.execute("PRAGMA synchronous=NORMAL")
    sql = "SELECT hash FROM audit_nodes WHERE level = ? AND idx = ?"
    times, _ = time_calls(lambda j: raw.execute(sql, keys[j]).fetchone(), k, budget)
    out["baseline_raw_pk_fetch"] = summary_ms(times)
    raw.close()

    # baseline 2: the same one-row fetch through SQLAlchemy, on one open session
    with hub.transaction() as s:
        stmt = select(AuditNode.hash).where(AuditNode.level == 0)
        times, _ = time_calls(lambda j: s.execute(stmt.where(AuditNode.idx == keys[j][1])).scalar_one(), k, budget)
    out["baseline_sqlalchemy_pk_fetch"] = summary_ms(times)

    # the proof itself, on one open session (what the API handler computes)
    with hub.transaction() as s:
        nodes = SqlNodes(s)
        times, proofs = time_calls(lambda j: merkle.inclusion_proof(nodes, leaves[j], n), k, budget)
    out["inclusion_proof_one_session"] = summary_ms(times)
    out["inclusion_proof_hashes_mean"] = round(statistics.fmean(len(p) for p in proofs), 1)

    # services.audit.inclusion: fresh transaction, head, leaf, path and root, base64 (the API's work)
    times, answers = time_calls(lambda j: audit_service.inclusion(hub, leaves[j]), k, budget)
    out["inclusion_service"] = summary_ms(times)
    checked = 0
    for j in sample(answers):
        answer, i = answers[j], leaves[j]
        leaf = merkle.leaf_hash(synthetic_payload(i))
        proof = [base64.b64decode(p) for p in answer["proof"]]
        assert base64.b64decode(answer["leaf_hash"]) == leaf
        assert base64.b64decode(answer["root_hash"]) == root
        assert merkle.verify_inclusion(leaf, i, n, proof, root), f"proof for leaf {i} does not verify"
        checked += 1
    out["inclusion_verified"] = checked

    # what-if, not Accord's code: the same work with an index-using lookup (see IndexedNodes)
    times, answers = time_calls(lambda j: inclusion_indexed(hub, leaves[j]), k, budget)
    out["whatif_inclusion_indexed_lookup"] = summary_ms(times)
    for j in sample(answers):
        answer, i = answers[j], leaves[j]
        assert answer["root_hash"] == root
        assert merkle.verify_inclusion(merkle.leaf_hash(synthetic_payload(i)), i, n, answer["proof"], root)

    # consistency proofs from a random earlier size to the whole tree
    times, answers = time_calls(lambda j: audit_service.consistency(hub, firsts[j]), k, budget)
    out["consistency_service"] = summary_ms(times)
    checked = 0
    for j in sample(answers):
        answer = answers[j]
        ok = merkle.verify_consistency(
            firsts[j],
            n,
            base64.b64decode(answer["first_root"]),
            base64.b64decode(answer["second_root"]),
            [base64.b64decode(p) for p in answer["proof"]],
        )
        assert ok and base64.b64decode(answer["second_root"]) == root, f"consistency from {firsts[j]} fails"
        checked += 1
    out["consistency_verified"] = checked

    # the sequencer on a big tree: integrate one full batch of new entries on top of it
    batch = min(args.integrate_count, 5000)
    out["integrate_batch_on_tree"] = integrate_throughput(hub, pool, batch)
    hub.close()
    shutil.rmtree(data_dir, ignore_errors=True)

    say(f"    baseline raw sqlite3 PK fetch      {fmt_ms(out['baseline_raw_pk_fetch'])}  (n={out['baseline_raw_pk_fetch']['n']})")
    say(f"    baseline SQLAlchemy PK fetch       {fmt_ms(out['baseline_sqlalchemy_pk_fetch'])}  (n={out['baseline_sqlalchemy_pk_fetch']['n']})")
    say(f"    inclusion_proof, one session       {fmt_ms(out['inclusion_proof_one_session'])}  (n={out['inclusion_proof_one_session']['n']})")
    say(f"    services.audit.inclusion           {fmt_ms(out['inclusion_service'])}  (n={out['inclusion_service']['n']})")
    say(
        f"    what-if: same work, index-using lookup {fmt_ms(out['whatif_inclusion_indexed_lookup'])}  "
        f"(n={out['whatif_inclusion_indexed_lookup']['n']}; bench-only IndexedNodes, not src)"
    )
    say(f"    services.audit.consistency         {fmt_ms(out['consistency_service'])}  (n={out['consistency_service']['n']})")
    say(
        f"    sequencer: one batch of {batch} entries onto the tree took "
        f"{out['integrate_batch_on_tree']['seconds']:.2f} s ({out['integrate_batch_on_tree']['per_second']:.0f}/s)"
    )
    say(f"    ({out['inclusion_verified']} inclusion and {out['consistency_verified']} consistency proofs verified)")
    return out


# --------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes and short runs, for smoke tests (< 30 s)")
    parser.add_argument("--leaves", help="comma-separated tree sizes for proofs (default 1000000,10000000)")
    parser.add_argument("--threads", help="comma-separated writer thread counts (default 1,4,16)")
    parser.add_argument("--seconds", type=float, help="length of each append run (default 5)")
    parser.add_argument("--sync", help="SQLite synchronous modes (default NORMAL,FULL)")
    parser.add_argument("--proofs", type=int, help="proofs timed per tree size (default 1000)")
    parser.add_argument("--proof-seconds", type=float, help="time budget per proof measurement (default 60)")
    parser.add_argument("--postgres", default=POSTGRES_URL, help="PostgreSQL server URL ('' to skip)")
    parser.add_argument("--tmp", help="directory for the temporary databases (default: system temp)")
    parser.add_argument("--out", help="results file (default bench/results/audit-<date>[-quick].json)")
    parser.add_argument("--skip-appends", action="store_true")
    parser.add_argument("--skip-proofs", action="store_true")
    args = parser.parse_args(argv)

    quick = args.quick
    args.leaves = [int(x) for x in (args.leaves or ("20000" if quick else "1000000,10000000")).split(",") if x]
    args.threads = [int(x) for x in (args.threads or ("1,4" if quick else "1,4,16")).split(",") if x]
    args.seconds = args.seconds or (1.0 if quick else 5.0)
    args.pg_seconds = 1.0 if quick else min(args.seconds, 3.0)
    args.sync = [x.strip().upper() for x in (args.sync or "NORMAL,FULL").split(",") if x.strip()]
    args.proofs = args.proofs or (100 if quick else 1000)
    args.integrate_count = 2000 if quick else 20000
    args.proof_budget = args.proof_seconds or (1.5 if quick else 60.0)
    if quick and args.postgres == POSTGRES_URL:
        args.postgres = ""

    started = datetime.now(UTC)
    info = machine()
    say(f"Accord audit benchmark, {started:%Y-%m-%d %H:%M} UTC, {'quick' if quick else 'full'} run")
    say(
        f"machine: {info['nproc']} cores, {info['cpu_model']}, {info['memory_gb']} GB, Python {info['python']}, "
        f"SQLite {info['sqlite']}, load {info['load_average_at_start']}"
    )
    results: dict = {
        "benchmark": "audit",
        "mode": "quick" if quick else "full",
        "date": started.isoformat(timespec="seconds"),
        "machine": info,
        "source": source_state(),
        "parameters": {
            "threads": args.threads,
            "seconds": args.seconds,
            "sync": args.sync,
            "leaves": args.leaves,
            "proofs": args.proofs,
            "proof_budget_seconds": args.proof_budget,
        },
    }
    tmp = Path(tempfile.mkdtemp(prefix="accord-bench-audit-", dir=args.tmp))
    say(f"temporary databases in {tmp} ({shutil.disk_usage(tmp).free / 1e9:.0f} GB free)")
    t_all = time.perf_counter()
    try:
        if not args.skip_appends:
            pool = record_pool(2000, random.Random(SEED))
            say(
                "\n1. Durable appends (one committed transaction per append, and through hub.group_commit if the hub "
                "has one; the sequencer integrating in the background)"
            )
            results["appends_sqlite"] = bench_sqlite_appends(args, tmp, pool)
            if args.postgres:
                say("\n1b. Durable appends on PostgreSQL")
                results["appends_postgres"] = bench_postgres(args, tmp, pool)
        if not args.skip_proofs:
            say(f"\n2. Proofs ({args.proofs} random leaves per tree size; OS page cache warm)")
            pool = record_pool(2000, random.Random(SEED))
            results["proofs"] = [bench_proofs(args, tmp, n, pool) for n in args.leaves]
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    results["total_seconds"] = round(time.perf_counter() - t_all, 1)
    results["source_at_end"] = source_state()
    if results["source_at_end"]["src_digest"] != results["source"]["src_digest"]:
        results["warning"] = "src/ changed while the benchmark ran; the figures may mix versions: run it again"
        say(f"\nWARNING: {results['warning']}")
    results["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    results["targets"] = targets(results)

    say("\nTargets")
    for line in results["targets"]["lines"]:
        say(f"  {line}")
    out = Path(args.out) if args.out else RESULTS / f"audit-{started:%Y-%m-%d}{'-quick' if quick else ''}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    say(f"\nwrote {out.relative_to(ROOT) if out.is_relative_to(ROOT) else out} ({results['total_seconds']} s)")
    return 0


def targets(results: dict) -> dict:
    lines, verdict = [], {}
    appends = results.get("appends_sqlite")
    if appends:
        for sync in sorted({r["synchronous"] for r in appends["runs"]}):
            for path in sorted({r.get("path", "transaction") for r in appends["runs"]}):
                runs = [r for r in appends["runs"] if r["synchronous"] == sync and r.get("path", "transaction") == path]
                best = max(runs, key=lambda r: r["hub"]["end_to_end_per_second"])
                rate = best["hub"]["end_to_end_per_second"]
                verdict[f"appends_sqlite_{sync.lower()}_{path}"] = {"best_end_to_end_per_second": rate, "met": rate >= 1500}
                lines.append(
                    f"appends >= 1,500/s (SQLite, synchronous={sync}, {path}): best {rate:,.0f}/s integrated end to "
                    f"end at {best['threads']} threads (baseline {best['baseline']['per_second']:,.0f}/s) -> "
                    f"{'MET' if rate >= 1500 else 'MISSED'}"
                )
    for proof in results.get("proofs", []):
        if "skipped" in proof:
            lines.append(f"inclusion < 5 ms at {proof['leaves']:,} leaves: not measured ({proof['skipped']})")
            continue
        p99 = proof["inclusion_service"]["p99_ms"]
        verdict[f"inclusion_{proof['leaves']}"] = {"p99_ms": p99, "met": p99 < 5}
        lines.append(
            f"inclusion proof < 5 ms at {proof['leaves']:,} leaves: services.audit.inclusion p50 "
            f"{proof['inclusion_service']['p50_ms']:.2f} ms, p99 {p99:.2f} ms (baseline PK fetch p50 "
            f"{proof['baseline_raw_pk_fetch']['p50_ms']:.3f} ms) -> {'MET' if p99 < 5 else 'MISSED'}"
        )
    return {"verdict": verdict, "lines": lines}


if __name__ == "__main__":
    raise SystemExit(main())
