"""CPU per request of the verification API, in process: the figure machine load changes least.

Run on demand, never as a test:

    .venv/bin/python bench/verification_cpu.py                      # 20k people, 2,000 requests per phase
    .venv/bin/python bench/verification_cpu.py --profile 25         # and the top 25 functions of each phase
    .venv/bin/python bench/verification_cpu.py --concurrency 32     # 32 requests in flight, as the server sees them
    .venv/bin/python bench/verification_cpu.py --no-model           # the cascade alone (no probabilistic stage)

``bench/verification.py`` measures throughput and latency against a real
server, which on a shared machine mostly measures how much of a core the
server was given. This script builds the same hub (``verification.prepare``:
the seeded register, DWP's synthetic holding, the Electoral Registration
Officer's client), creates the same ASGI app with its lifespan running (the
audit worker integrates the log as in the server) and calls it directly from
an asyncio loop in this process: no sockets, no HTTP parsing, no load
generator. Each phase runs a warm-up, then ``--requests`` requests; the
figure is this process's CPU time (every thread: the event loop, the thread
pool, the group-commit writer, the audit worker) divided by the requests
answered. ``time.process_time`` counts CPU the process used, not time it
waited for a core, so the figure holds under load far better than
requests/s.

Phases, with the same baseline as ``bench/verification.py``: ``GET /health``,
``POST /v1/decisions``, ``POST /v1/verifications``. Results go to
bench/results/verification-cpu-<date>.json.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import json
import os
import pstats
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlencode

sys.path.insert(0, str(Path(__file__).resolve().parent))

from verification import AGREEMENT, OFFICER, RESULTS, ROOT, git_state, prepare, say  # noqa: E402

from accord.config import load_settings  # noqa: E402
from accord.runtime import Hub  # noqa: E402
from machine import describe  # noqa: E402


BATCH = 100  # requests per CPU reading


class Asgi:
    """Calls an ASGI app directly: one HTTP request in, (status, body) out."""

    def __init__(self, app) -> None:  # noqa: ANN001
        self.app = app

    async def __call__(self, method: str, path: str, headers: dict[str, str], body: bytes = b"") -> tuple[int, bytes]:
        raw = [(k.lower().encode(), v.encode()) for k, v in headers.items()]
        if body:
            raw.append((b"content-length", str(len(body)).encode()))
        scope = {
            "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method,
            "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "",
            "headers": raw, "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 8000),
        }
        sent = False
        status = 0
        chunks: list[bytes] = []

        async def receive() -> dict:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            await asyncio.Event().wait()  # never disconnects
            return {"type": "http.disconnect"}

        async def send(message: dict) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))

        await self.app(scope, receive, send)
        return status, b"".join(chunks)


async def _phase(call: Asgi, name: str, requests: list[tuple], count: int, warmup: int, concurrency: int,
                 profile: int) -> dict:
    async def run(n: int, offset: int, statuses: dict[int, int]) -> None:
        async def worker(start: int) -> None:
            for i in range(start, n, concurrency):
                method, path, headers, body = requests[(offset + i) % len(requests)]
                status, _ = await call(method, path, headers, body)
                statuses[status] = statuses.get(status, 0) + 1

        await asyncio.gather(*(worker(k) for k in range(concurrency)))

    await run(warmup, 0, {})
    statuses: dict[int, int] = {}
    profiler = cProfile.Profile() if profile else None
    load = os.getloadavg()[0]
    batch = max(1, min(BATCH, count))
    batches: list[float] = []  # CPU seconds per request, batch by batch
    cpu_total, wall = 0.0, time.perf_counter()
    if profiler:
        profiler.enable()
    for done in range(0, count, batch):
        size = min(batch, count - done)
        cpu = time.process_time()
        await run(size, warmup + done, statuses)
        cpu = time.process_time() - cpu
        cpu_total += cpu
        batches.append(cpu / size)
    if profiler:
        profiler.disable()
    wall = time.perf_counter() - wall
    batches.sort()
    result = {
        "phase": name, "requests": count, "concurrency": concurrency,
        "cpu_ms_per_request": round(cpu_total * 1000 / count, 3),
        # Other processes' load inflates CPU time too (caches, frequency); the quietest batches show it least.
        "cpu_ms_per_request_median_batch": round(batches[len(batches) // 2] * 1000, 3),
        "cpu_ms_per_request_best_batch": round(batches[0] * 1000, 3),
        "wall_ms_per_request": round(wall * 1000 / count, 3),
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "load_average": round(load, 2),
    }
    say(f"  {name:<24} CPU {result['cpu_ms_per_request']:>6.3f} ms/request (median batch "
        f"{result['cpu_ms_per_request_median_batch']:.3f}, best {result['cpu_ms_per_request_best_batch']:.3f})   wall {result['wall_ms_per_request']:>6.3f} ms"
        f"   statuses {result['statuses']}   load {result['load_average']}")
    if profiler:
        text = io.StringIO()
        stats = pstats.Stats(profiler, stream=text)
        stats.sort_stats("cumulative").print_stats(profile)
        say(text.getvalue())
    return result


async def _drive(hub: Hub, phases: list[tuple[str, list[tuple]]], count: int, warmup: int, concurrency: int,
                 profile: int, ids: dict) -> list[dict]:
    from accord.app import create_app

    app = create_app(hub=hub)
    call = Asgi(app)
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    bearers = {}
    for who, (client_id, secret) in ids.items():
        body = urlencode({"grant_type": "client_credentials", "client_id": client_id,
                          "client_secret": secret}).encode()
        status, answer = await call("POST", "/oauth/token", form, body)
        assert status == 200, answer
        bearers[who] = json.loads(answer)["access_token"]
    results = []
    async with app.router.lifespan_context(app):
        for name, build in phases:
            results.append(await _phase(call, name, build(bearers), count, warmup, concurrency, profile))
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--persons", type=int, default=20_000)
    parser.add_argument("--requests", type=int, default=2000, help="measured requests per phase")
    parser.add_argument("--warmup", type=int, default=300, help="uncounted requests before each phase")
    parser.add_argument("--concurrency", type=int, default=1, help="requests in flight at once")
    parser.add_argument("--profile", type=int, default=0, metavar="N",
                        help="print the top N functions of the event-loop thread (cProfile; use py-spy for all threads)")
    parser.add_argument("--only", choices=("health", "decisions", "verifications"), action="append",
                        help="run only this phase (repeatable; for profiling one phase with py-spy)")
    parser.add_argument("--data", type=Path, default=None,
                        help="reuse (or create) a prepared data directory here instead of a temporary one")
    parser.add_argument("--no-model", action="store_true",
                        help="no probabilistic model for the agreement: the cascade alone answers")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()

    say("Verification API: CPU per request, in process")
    machine = describe()
    say(f"  machine: {machine['nproc']} cores, {machine['cpu_model']}, load {machine['load_average_at_start']}")
    temporary = args.data is None
    base = Path(tempfile.mkdtemp(prefix="accord-bench-vcpu-")) if temporary else args.data
    data_dir = base / "data"
    facts_file = base / "prepared.json"
    try:
        if facts_file.exists():
            prepared = json.loads(facts_file.read_text())
        else:
            client_id, secret, applicants, facts = prepare(data_dir, args.persons, model=not args.no_model)
            prepared = {"ero": [client_id, secret], "council": list(facts.pop("decisions_client").values()),
                        "applicants": applicants, "facts": facts}
            facts_file.write_text(json.dumps(prepared, default=str))
        applicants = prepared["applicants"]
        say(f"  data: {prepared['facts']['persons']:,} people, DWP holding {prepared['facts']['holding_rows']:,} rows, "
            f"{len(applicants):,} applicants")

        def health(_bearers: dict) -> list[tuple]:
            return [("GET", "/health", {}, b"")]

        def decisions(bearers: dict) -> list[tuple]:
            body = json.dumps({"action": "dataset.read", "dataset": "dwp-benefits",
                               "purpose": "public_service_delivery:multiple_disadvantages",
                               "fields": ["nino", "postcode"], "records": 1}).encode()
            headers = {"Authorization": f"Bearer {bearers['council']}", "X-Accord-Officer": OFFICER,
                       "Content-Type": "application/json"}
            return [("POST", "/v1/decisions", headers, body)]

        def verifications(bearers: dict) -> list[tuple]:
            headers = {"Authorization": f"Bearer {bearers['ero']}", "X-Accord-Officer": OFFICER,
                       "Content-Type": "application/json"}
            return [("POST", "/v1/verifications", headers,
                     json.dumps({"agreement": AGREEMENT, "reference": f"B{n}", "applicant": a}).encode())
                    for n, a in enumerate(applicants)]

        hub = Hub.open(load_settings(data_dir=data_dir), upgrade=False)
        try:
            phases = [("GET /health", health), ("POST /v1/decisions", decisions),
                      ("POST /v1/verifications", verifications)]
            if args.only:
                phases = [p for p in phases if p[1].__name__ in args.only]
            results = asyncio.run(_drive(hub, phases, args.requests, args.warmup, args.concurrency, args.profile,
                                         {"ero": prepared["ero"], "council": prepared["council"]}))
        finally:
            hub.close()
        baseline = results[0]["cpu_ms_per_request"] if results[0]["phase"] == "GET /health" else None
        for result in results:
            result["cpu_ratio_to_health"] = round(result["cpu_ms_per_request"] / baseline, 2) if baseline else None
        now = datetime.now(UTC)
        out = args.out or RESULTS / f"verification-cpu-{now.date().isoformat()}.json"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps({
            "benchmark": "verification-cpu", "date": now.isoformat(timespec="seconds"), **git_state(),
            "machine": {**machine, "load_average_at_end": [round(x, 2) for x in os.getloadavg()]},
            "settings": {"requests": args.requests, "warmup": args.warmup, "concurrency": args.concurrency,
                         "database": "SQLite (embedded default)", "driver": "ASGI app called in process"},
            "data": prepared["facts"], "phases": results,
        }, indent=2) + "\n", encoding="utf-8")
        say(f"  wrote {out.relative_to(ROOT) if out.is_relative_to(ROOT) else out}")
    finally:
        if temporary:
            shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
