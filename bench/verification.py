"""Verification API benchmark: requests per second and latency at 32 concurrent clients, on loopback.

Run on demand, never as a test:

    .venv/bin/python bench/verification.py                 # 20 s per phase, 100k synthetic people
    .venv/bin/python bench/verification.py --quick         # 5 s per phase, 20k people
    .venv/bin/python bench/verification.py --seconds 20 --clients 32 --persons 100000 --idempotency
    .venv/bin/python bench/verification.py --workers 2                 # accord serve --workers 2
    .venv/bin/python bench/verification.py --postgres --workers 2      # a fresh PostgreSQL database on 127.0.0.1

Target (issue 6): the verification API, with authentication, policy and durable
audit, serves at least 500 requests/s on 2 cores with p99 under 100 ms at 32
concurrent clients on loopback, measured against the same server's health
endpoint in the same run.

What runs: a real server (``accord serve``: uvicorn, one process, the embedded
SQLite default, the audit sequencer in its lifespan) in a subprocess, on a
fresh data directory. The register is seeded, DWP's synthetic records
(``accord synth``) are loaded as its holding, and the Electoral Registration
Officer gets an API client. This process then drives the server with an asyncio
load generator on raw keep-alive HTTP/1.1 connections, which costs a few tens
of microseconds per request, so the measurement is the server's and not the
client's. Each phase has a warm-up that is not counted, then a bounded run.
The server's CPU time (user and system, every thread, and every worker process
with ``--workers``) is read from /proc at the end of the warm-up and at the end
of the run, and divided by the requests answered in between. It is the figure
that machine load changes least; ``bench/verification_cpu.py`` measures the
same in process, without HTTP.

Phases, all on the same server:

1. ``GET /health`` (the baseline: routing, JSON, one ``SELECT 1``);
2. ``POST /v1/decisions`` (a reference: bearer token, policy, decision record and
   audit entry, the same write path without standardising or matching);
3. ``POST /v1/verifications`` (the target: the same plus standardising the
   applicant and matching it against the holding's blocking index).

The applicants are a mix drawn from the synthetic data: DWP people with their
NINO (match), the same without it, the council's registration applications
(matches, partials, no matches, fictitious people). After the run the benchmark
checks that every answered check is in the decisions table and the audit log, and
that the log verifies. Results go to bench/results/verification-<date>.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

import pyarrow as pa  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402

from accord.clock import utcnow  # noqa: E402
from accord.config import load_settings  # noqa: E402
from accord.demo.seed import seed_agreements, seed_registry  # noqa: E402
from accord.linkage.standardise import standardise_nino, standardise_postcode  # noqa: E402
from accord.registry.credentials import create_client  # noqa: E402
from accord.runtime import Hub  # noqa: E402
from accord.services import holdings, verification  # noqa: E402
from accord.services.unit_of_work import Actor  # noqa: E402
from machine import describe  # noqa: E402 - bench/machine.py, beside this script

RESULTS = ROOT / "bench" / "results"
ACCORD = Path(sys.executable).with_name("accord")
AGREEMENT, ERO, OFFICER = "electoral-registration-verification", "northshire-ero", "bench clerk"
TARGET_RPS, TARGET_P99_MS = 500, 100


def say(message: str = "") -> None:
    print(message, flush=True)


def pct(values: list[float], p: float) -> float:
    """Nearest-rank percentile (seconds in, milliseconds out)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(p / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank] * 1000


def git_state() -> dict:
    def git(*args: str) -> str:
        try:
            return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=10).stdout
        except (OSError, subprocess.SubprocessError):
            return ""

    return {
        "commit": git("rev-parse", "HEAD").strip() or None,
        "src_changes": [line[3:] for line in git("status", "--porcelain", "src").splitlines() if line.strip()],
    }


# --------------------------------------------------------------------------- set-up


def prepare(data_dir: Path, persons: int, database_url: str | None = None,
            model: bool = True) -> tuple[str, str, list[dict], dict]:
    """Seed the hub, load DWP's synthetic records, train the agreement's model (unless ``model`` is False), make
    the ERO's client; returns (id, secret, applicants, facts)."""
    from accord.synth import generate

    synth = data_dir.parent / "synth"
    started = time.perf_counter()
    generate(persons=persons, seed=2026, out=synth, overwrite=True, workers=1, bodies="dwp,electoral")
    generated = time.perf_counter() - started
    hub = Hub.open(load_settings(data_dir=data_dir, database_url=database_url))
    try:
        now = utcnow()
        with hub.transaction() as session:
            seed_registry(session, hub.framework, now)
            seed_agreements(session, hub.framework, now)
            issued = create_client(session, ERO, now, label="bench")
            reference = create_client(session, "northshire-council", now, label="bench")
        info = holdings.load_holding(hub, "dwp-benefits", synth / "dwp-benefits.parquet")
        trained = None
        if model:
            past = data_dir.parent / "past-applications.parquet"
            pq.write_table(pa.concat_tables(
                [pq.read_table(p) for p in sorted(synth.glob("*-registration-applications.parquet"))]), past)
            clerk = Actor(ERO, "bench clerk", "bench-train")
            stored = verification.train_model(hub, clerk, agreement_id=AGREEMENT, applications=past,
                                              mapping={"dob": "date_of_birth"})
            trained = {"version": stored.version, "fields": stored.model.fields,
                       "training_seconds": stored.model.training.get("seconds")}
    finally:
        hub.close()
    applicants = applicant_pool(synth)
    facts = {"persons": persons, "holding_rows": info.rows, "applicants_in_pool": len(applicants),
             "synth_seconds": round(generated, 1), "probabilistic_model": trained,
             "decisions_client": {"client_id": reference.client_id, "client_secret": reference.client_secret}}
    return issued.client_id, issued.client_secret, applicants, facts


def applicant_pool(synth: Path, size: int = 5000, seed: int = 7) -> list[dict]:
    """A mix of applicants: DWP people with and without NINO, and the councils' registration applications."""
    rng = random.Random(seed)
    dwp = pq.read_table(synth / "dwp-benefits.parquet").to_pylist()
    apps = pa.concat_tables(
        [pq.read_table(p) for p in sorted(synth.glob("*-registration-applications.parquet"))]).to_pylist()

    def details(row: dict, with_nino: bool) -> dict | None:
        if not (row["first_name"] and row["surname"] and row["date_of_birth"]
                and standardise_postcode(row["postcode"])):
            return None
        out = {"first_name": row["first_name"], "surname": row["surname"],
               "dob": row["date_of_birth"].isoformat(), "postcode": row["postcode"]}
        if with_nino and standardise_nino(row.get("nino")):
            out["nino"] = row["nino"]
        return out

    pool = []
    for _ in range(size):
        kind = rng.random()
        row = rng.choice(dwp) if kind < 0.6 else rng.choice(apps)
        found = details(row, with_nino=kind < 0.4 or kind >= 0.6)
        if found:
            pool.append(found)
    return pool


# --------------------------------------------------------------------------- the server


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_server(data_dir: Path, port: int, workers: int = 1, database_url: str | None = None) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ACCORD_")}
    env.update({"ACCORD_DATA_DIR": str(data_dir), "NO_COLOR": "1"})
    if database_url:
        env["ACCORD_DATABASE_URL"] = database_url
    command = [str(ACCORD), "serve", "--host", "127.0.0.1", "--port", str(port)]
    if workers > 1:
        command += ["--workers", str(workers)]
    server = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"the server exited: {server.stderr.read().decode()[-2000:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return server
        except OSError:
            time.sleep(0.2)
    server.kill()
    raise RuntimeError("the server did not start in 120 s")


def _stat(pid: int) -> list[str]:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def process_tree(pid: int) -> list[int]:
    """The server process and its live descendants (the worker processes, with ``--workers``)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parents[int(entry.name)] = int(_stat(int(entry.name))[1])
            except (OSError, IndexError, ValueError):
                continue
    tree, frontier = [pid], [pid]
    while frontier:
        parent = frontier.pop()
        children = [child for child, ppid in parents.items() if ppid == parent and child not in tree]
        tree.extend(children)
        frontier.extend(children)
    return tree


def cpu_seconds(pids: list[int]) -> float:
    """User and system CPU time of these processes (all their threads)."""
    ticks = 0
    for member in pids:
        try:
            fields = _stat(member)
        except OSError:
            continue
        ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def create_postgres_database(server_url: str) -> tuple[str, str]:
    """A fresh, empty database on the PostgreSQL server at ``server_url``: (its URL, its name)."""
    import secrets

    import psycopg
    from sqlalchemy.engine import make_url

    name = f"accord_bench_verification_{secrets.token_hex(4)}"
    url = make_url(server_url)
    with psycopg.connect(url.set(drivername="postgresql", database=url.database or "postgres")
                         .render_as_string(hide_password=False), autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    return url.set(drivername="postgresql+psycopg", database=name).render_as_string(hide_password=False), name


def drop_postgres_database(server_url: str, name: str) -> None:
    import psycopg
    from sqlalchemy.engine import make_url

    url = make_url(server_url)
    with psycopg.connect(url.set(drivername="postgresql", database=url.database or "postgres")
                         .render_as_string(hide_password=False), autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def token(port: int, client_id: str, secret: str) -> str:
    import httpx

    response = httpx.post(f"http://127.0.0.1:{port}/oauth/token", timeout=10,
                          data={"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret})
    response.raise_for_status()
    return response.json()["access_token"]


# --------------------------------------------------------------------------- the load generator


def http_request(method: str, path: str, headers: dict[str, str], body: bytes = b"") -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    if body or method == "POST":
        lines += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


async def _client(port: int, requests: list[bytes], start: int, warm_until: float, stop_at: float,
                  latencies: list[float], statuses: dict[int, int], bodies: list[bytes], keep_bodies: int) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    index = start
    try:
        while True:
            began = time.perf_counter()
            if began >= stop_at:
                return
            writer.write(requests[index % len(requests)])
            index += 1
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head[9:12])
            length = 0
            for line in head.split(b"\r\n")[1:]:
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
                    break
            body = await reader.readexactly(length) if length else b""
            done = time.perf_counter()
            if began >= warm_until:
                latencies.append(done - began)
                statuses[status] = statuses.get(status, 0) + 1
                if len(bodies) < keep_bodies:
                    bodies.append(body)
    finally:
        writer.close()


def run_phase(name: str, port: int, pid: int, requests: list[bytes], clients: int, warmup: float, seconds: float,
              keep_bodies: int = 0) -> dict:
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    bodies: list[bytes] = []

    processes = process_tree(pid)
    marks: dict[str, float] = {}

    async def warmed_up() -> None:
        # CPU is counted from the end of the warm-up, like the requests.
        await asyncio.sleep(warmup)
        marks["server"], marks["own"] = cpu_seconds(processes), time.process_time()

    async def main() -> tuple[float, float]:
        now = time.perf_counter()
        warm_until, stop_at = now + warmup, now + warmup + seconds
        tasks = [
            _client(port, requests, i * 97, warm_until, stop_at, latencies, statuses, bodies, keep_bodies)
            for i in range(clients)
        ]
        await asyncio.gather(warmed_up(), *tasks)
        return warm_until, time.perf_counter()

    load_before = os.getloadavg()[0]
    warm_until, ended = asyncio.run(main())
    server_cpu = cpu_seconds(processes) - marks["server"]
    own_cpu = time.process_time() - marks["own"]
    measured = ended - warm_until  # the last requests started before stop_at may finish just after it
    count = len(latencies)
    result = {
        "phase": name,
        "clients": clients,
        "seconds": round(measured, 2),
        "requests": count,
        "requests_per_second": round(count / measured, 1) if measured > 0 else 0,
        "latency_ms": {"p50": round(pct(latencies, 50), 2), "p95": round(pct(latencies, 95), 2),
                       "p99": round(pct(latencies, 99), 2), "max": round(max(latencies, default=0) * 1000, 2)},
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "server_cpu_ms_per_request": round(server_cpu * 1000 / max(1, count), 3),
        "server_cpu_cores": round(server_cpu / measured, 2) if measured > 0 else None,
        "client_cpu_ms_per_request": round(own_cpu * 1000 / max(1, count), 3),
        "load_average_before": round(load_before, 2),
        "load_average_after": round(os.getloadavg()[0], 2),
    }
    if keep_bodies:
        grades: dict[str, int] = {}
        for body in bodies:
            try:
                grade = json.loads(body).get("grade", "(refused)")
            except ValueError:
                grade = "(not JSON)"
            grades[grade] = grades.get(grade, 0) + 1
        result["grades_of_first_responses"] = grades
    lat = result["latency_ms"]
    say(f"  {name:<22} {result['requests_per_second']:>8,.1f} req/s   p50 {lat['p50']:>6.2f}  p95 {lat['p95']:>6.2f}  "
        f"p99 {lat['p99']:>7.2f}  max {lat['max']:>7.1f} ms   server CPU {result['server_cpu_ms_per_request']:.2f} ms/req "
        f"({result['server_cpu_cores']:.2f} cores)   statuses {result['statuses']}   load {result['load_average_before']}"
        f"->{result['load_average_after']}")
    return result


def first_check(port: int, bearer: str, applicant: dict) -> dict:
    """One check before anything is timed: it builds the holding's blocking index in the server."""
    import httpx

    began = time.perf_counter()
    response = httpx.post(f"http://127.0.0.1:{port}/v1/verifications", timeout=120,
                          headers={"Authorization": f"Bearer {bearer}", "X-Accord-Officer": OFFICER},
                          json={"agreement": AGREEMENT, "reference": "first", "applicant": applicant})
    elapsed = time.perf_counter() - began
    response.raise_for_status()
    return {"latency_ms": round(elapsed * 1000, 1), "grade": response.json()["grade"]}


# --------------------------------------------------------------------------- checks after the run


def audit_check(data_dir: Path, answered: int, database_url: str | None = None) -> dict:
    """Every answered check is a decision and an audit entry; the log verifies."""
    from sqlalchemy import func, select

    from accord.services import audit
    from accord.storage.models import AuditEntry, DecisionRecord

    hub = Hub.open(load_settings(data_dir=data_dir, database_url=database_url), upgrade=False)
    try:
        with hub.transaction() as session:
            checks = session.scalar(select(func.count()).select_from(DecisionRecord)
                                    .where(DecisionRecord.action == "identity.verify"))
            entries = session.scalar(select(func.count()).select_from(AuditEntry))
        audit.integrate_now(hub)
        report = audit.verify_log(hub)
        return {"verification_decisions": checks, "answered_checks": answered, "audit_entries": entries,
                "every_answer_recorded": checks >= answered, "log_verifies": report.ok,
                "tree_size": report.tree_size}
    finally:
        hub.close()


# --------------------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=20.0, help="measured seconds per phase")
    parser.add_argument("--warmup", type=float, default=3.0, help="uncounted seconds before each phase")
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--persons", type=int, default=100_000, help="synthetic population (DWP holds about 28%%)")
    parser.add_argument("--idempotency", action="store_true", help="send an Idempotency-Key on every check")
    parser.add_argument("--skip-decisions", action="store_true", help="do not run the /v1/decisions reference phase")
    parser.add_argument("--quick", action="store_true", help="5 s phases, 20k people")
    parser.add_argument("--workers", type=int, default=1, help="server processes (accord serve --workers)")
    parser.add_argument("--postgres", metavar="SERVER_URL", nargs="?", const="postgresql://postgres@127.0.0.1:5432/postgres",
                        default=None, help="use a fresh database on this PostgreSQL server instead of SQLite "
                        "(default server: postgresql://postgres@127.0.0.1:5432/postgres); it is dropped afterwards")
    parser.add_argument("--no-model", action="store_true",
                        help="no probabilistic model for the agreement: the cascade alone answers")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--tmp", type=Path, default=None, help="where to put the temporary data directory")
    args = parser.parse_args()
    if args.quick:
        args.seconds, args.warmup, args.persons = 5.0, 2.0, 20_000

    say("Verification API benchmark")
    machine = describe()
    say(f"  machine: {machine['nproc']} cores, {machine['cpu_model']}, load {machine['load_average_at_start']}")
    base = Path(tempfile.mkdtemp(prefix="accord-bench-verification-", dir=args.tmp))
    data_dir = base / "data"
    server = None
    database_url, database_name = None, None
    if args.postgres:
        database_url, database_name = create_postgres_database(args.postgres)
    try:
        started = time.perf_counter()
        client_id, secret, applicants, facts = prepare(data_dir, args.persons, database_url, model=not args.no_model)
        say(f"  set-up: {args.persons:,} people, DWP holding {facts['holding_rows']:,} rows, "
            f"{len(applicants):,} applicants in the pool ({time.perf_counter() - started:.1f} s)")
        port = free_port()
        server = start_server(data_dir, port, args.workers, database_url)
        bearer = token(port, client_id, secret)
        council_client = facts.pop("decisions_client")
        council = token(port, council_client["client_id"], council_client["client_secret"])

        auth = {"Authorization": f"Bearer {bearer}", "X-Accord-Officer": OFFICER}
        health = [http_request("GET", "/health", {})]
        checks = []
        for number, applicant in enumerate(applicants):
            headers = dict(auth)
            if args.idempotency:
                headers["Idempotency-Key"] = f"bench-{number}-{random.random()}"
            payload = {"agreement": AGREEMENT, "reference": f"B{number}", "applicant": applicant}
            checks.append(http_request("POST", "/v1/verifications", headers, json.dumps(payload).encode()))
        decision = json.dumps({"action": "dataset.read", "dataset": "dwp-benefits",
                               "purpose": "public_service_delivery:multiple_disadvantages",
                               "fields": ["nino", "postcode"], "records": 1}).encode()
        decisions = [http_request("POST", "/v1/decisions", {"Authorization": f"Bearer {council}",
                                                            "X-Accord-Officer": OFFICER}, decision)]

        first = first_check(port, bearer, applicants[0])
        say(f"  first check (builds the holding's index): {first['latency_ms']} ms, grade {first['grade']}")
        phases = [run_phase("GET /health", port, server.pid, health, args.clients, args.warmup, args.seconds)]
        if not args.skip_decisions:
            phases.append(run_phase("POST /v1/decisions", port, server.pid, decisions, args.clients, args.warmup,
                                    args.seconds))
        phases.append(run_phase("POST /v1/verifications", port, server.pid, checks, args.clients, args.warmup,
                                args.seconds, keep_bodies=2000))
        verification = phases[-1]
        baseline = phases[0]
        answered = verification["statuses"].get("200", 0)
        server.terminate()
        server.wait(30)
        server = None
        audit = audit_check(data_dir, answered, database_url)

        lat = verification["latency_ms"]
        met = verification["requests_per_second"] >= TARGET_RPS and lat["p99"] < TARGET_P99_MS
        verdict = {
            "target": f">= {TARGET_RPS} requests/s and p99 < {TARGET_P99_MS} ms at {args.clients} clients",
            "requests_per_second": verification["requests_per_second"],
            "p99_ms": lat["p99"],
            "met": met,
            "ratio_to_health_baseline": round(verification["requests_per_second"] / baseline["requests_per_second"], 3)
            if baseline["requests_per_second"] else None,
        }
        say(f"  audit: {audit}")
        say(f"  verdict: {'MET' if met else 'MISSED'} - {verdict}")
        now = datetime.now(UTC)
        result = {
            "benchmark": "verification", "date": now.isoformat(timespec="seconds"), **git_state(),
            "machine": {**machine, "load_average_at_end": [round(x, 2) for x in os.getloadavg()]},
            "settings": {"seconds": args.seconds, "warmup": args.warmup, "clients": args.clients,
                         "idempotency_key": args.idempotency,
                         "database": "PostgreSQL (fresh database, 127.0.0.1)" if args.postgres else
                         "SQLite (embedded default, WAL, synchronous=NORMAL)",
                         "server": f"accord serve (uvicorn, {args.workers} process{'es' if args.workers > 1 else ''})"},
            "data": facts, "first_check_builds_index": first, "phases": phases, "audit": audit, "verdict": verdict,
        }
        out = args.out or RESULTS / f"verification-{now.date().isoformat()}{'-quick' if args.quick else ''}.json"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
        say(f"  wrote {out.relative_to(ROOT) if out.is_relative_to(ROOT) else out}")
    finally:
        if server is not None:
            server.kill()
            server.wait(10)
        shutil.rmtree(base, ignore_errors=True)
        if database_name:
            drop_postgres_database(args.postgres, database_name)


if __name__ == "__main__":
    main()
