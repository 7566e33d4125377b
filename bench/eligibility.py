"""Warm Home Discount benchmark (issue 6): 1M supplier customers against 5M claimants.

Run on demand, never as a test:

    .venv/bin/python bench/eligibility.py                  # the full run (first run also builds the data)
    .venv/bin/python bench/eligibility.py --prepare-only   # only build the cached input files
    .venv/bin/python bench/eligibility.py --quick          # 100k customers against 500k claimants

Target (from the issue): the eligibility job for 1M supplier customers against
5M claimants in at most 10 minutes and 8 GB.

Data. ``accord synth`` generates 18.5M synthetic persons with DWP's and the
energy suppliers' views (cached under var/bench/eligibility/); the first 5M
rows of ``dwp-benefits`` are the claimants and the first 1M rows of
``brightwatt-customers`` the customer list. Customers and claimants come from
the same population, so they overlap as in life: some account holders are
claimants, a few of those receive Pension Credit Guarantee Credit, and both
views carry the generator's noise (typos, nicknames, stale addresses, missing
names). The synth answer key says who is really eligible.

What is measured, each in a fresh process (so its peak RSS is its own):

* the job: ``eligibility.submit`` (read and validate the list, check the policy,
  queue) and one worker running it (prepare the qualifying claimants, match
  chunk by chunk with checkpoints, assemble the result, record the decision),
  on the embedded default (SQLite) unless ``--database-url`` names PostgreSQL;
* the baseline, in the same run: a plain DuckDB join of the two files on
  lower-cased first name, surname and postcode with the spaces removed,
  restricted to qualifying claimants, written as the same two-column CSV. No
  standardisation, nicknames or fallback rules, no validation, job or audit.

Loading DWP's 5M rows as the holding (``holdings.load_holding``) is DWP's
set-up, done once before any job; it is timed and reported separately.
Results: bench/results/eligibility-<date>[-postgresql][-quick].json.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import duckdb

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from machine import describe, repo_path  # noqa: E402 - bench/machine.py, beside this script

CACHE = ROOT / "var" / "bench" / "eligibility"
RESULTS = ROOT / "bench" / "results"
SEED = 2026
# dwp-benefits holds ~0.275 award rows per synthetic person, so 18.5M persons give > 5M claimant rows;
# brightwatt-energy holds ~12% of persons as account holders (> 2M), of which the first 1M are kept.
PERSONS = 18_500_000
CLAIMANTS = 5_000_000
CUSTOMERS = 1_000_000
TARGET_SECONDS = 600
TARGET_RSS_GB = 8.0
AGREEMENT = "warm-home-discount-2026"
SUPPLIER = "brightwatt-energy"


def synth_dir(persons: int = PERSONS, seed: int = SEED) -> Path:
    return CACHE / f"synth-{persons}-{seed}"


def prepare(persons: int = PERSONS, claimants: int = CLAIMANTS, customers: int = CUSTOMERS) -> dict[str, Path]:
    """Generate (once) the synthetic population's DWP and energy views, then cut the benchmark files."""
    from accord.synth.generate import generate

    out = synth_dir(persons)
    if not (out / "manifest.json").is_file():
        started = time.perf_counter()
        last = [0.0]

        def progress(done: int, total: int) -> None:
            if time.perf_counter() - last[0] > 30:
                last[0] = time.perf_counter()
                print(f"  synth: {done:,}/{total:,} persons ({time.perf_counter() - started:.0f} s)", flush=True)

        print(f"generating {persons:,} synthetic persons (dwp, energy) into {out} ...", flush=True)
        out.parent.mkdir(parents=True, exist_ok=True)  # a fresh checkout has no var/bench yet
        generate(persons=persons, seed=SEED, out=out, bodies="dwp,energy", workers=2, overwrite=True,
                 progress=progress)
        print(f"  done in {time.perf_counter() - started:.0f} s", flush=True)
    files = {
        "claimants": CACHE / f"claimants-{claimants}.parquet",
        "customers": CACHE / f"customers-{customers}.parquet",
        "synth": out,
    }
    sources = {"claimants": (out / "dwp-benefits.parquet", claimants),
               "customers": (out / "brightwatt-customers.parquet", customers)}
    with duckdb.connect() as connection:
        for name, (source, rows) in sources.items():
            path = files[name]
            if path.is_file():
                continue
            available = connection.execute("SELECT count(*) FROM read_parquet(?)", [str(source)]).fetchall()[0][0]
            if available < rows:
                raise SystemExit(f"{source} has {available:,} rows, fewer than the {rows:,} needed")
            temp = path.with_suffix(".tmp.parquet")
            connection.execute(
                f"COPY (SELECT * FROM read_parquet('{source.as_posix()}') LIMIT {rows}) "
                f"TO '{temp.as_posix()}' (FORMAT parquet, COMPRESSION zstd)"
            )
            temp.replace(path)
    return files


# ------------------------------------------------------------------ the measured parts (child processes)


def _peak_rss_gb() -> float:
    """This process's own peak resident set (VmHWM). Not getrusage's ru_maxrss: Linux carries that
    over fork and exec, so a child would report its parent's peak if that was higher."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024 / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 / 1024  # kilobytes on Linux


def _settings(hub_dir: Path, database_url: str | None):  # noqa: ANN202
    from accord.config import load_settings

    overrides = {"data_dir": hub_dir, "environment": "test"}
    if database_url:
        overrides["database_url"] = database_url
    return load_settings(**overrides)


def child_job(hub_dir: Path, customers: Path, database_url: str | None) -> dict:
    """Submit and run one eligibility job; what it took."""
    from accord.runtime import Hub
    from accord.services import eligibility, jobs
    from accord.services.unit_of_work import Actor

    hub = Hub.open(_settings(hub_dir, database_url))
    started = time.perf_counter()
    cpu = time.process_time()
    reply = eligibility.submit(hub, Actor(body_id=SUPPLIER, officer="bench", request_id=f"bench-{time.time_ns()}"),
                               customers, agreement_id=AGREEMENT)
    if not reply.ok:
        raise SystemExit(f"the submission was refused ({reply.status}): {reply.body}")
    view = reply.body
    submitted = time.perf_counter()
    chunk_times: list[float] = []
    last = [time.perf_counter()]

    def chunk_done(_index: int) -> None:
        now = time.perf_counter()
        chunk_times.append(now - last[0])
        last[0] = now

    owner = jobs.worker_name()
    assert jobs.claim(hub, owner) == view["id"]
    claimed = time.perf_counter()
    state = jobs.run_claimed(hub, view["id"], owner, on_chunk=chunk_done)
    finished = time.perf_counter()
    with hub.transaction() as session:
        final = jobs.view(jobs.visible_job(session, view["id"], SUPPLIER))
    result = jobs.result_file(hub, view["id"], SUPPLIER) if state == "succeeded" else None
    hub.close()
    return {
        "state": state,
        "job_id": view["id"],
        "customers": final["progress"]["total"],
        "chunks": final["progress"]["chunks"],
        "summary": final["summary"],
        "seconds": {
            "total": round(finished - started, 2),
            "submit_validate_and_queue": round(submitted - started, 2),
            "claim": round(claimed - submitted, 3),
            "run": round(finished - claimed, 2),
            "first_chunk_including_claimant_preparation": round(chunk_times[0], 2) if chunk_times else None,
            "chunk_median": round(sorted(chunk_times)[len(chunk_times) // 2], 2) if chunk_times else None,
        },
        "cpu_seconds": round(time.process_time() - cpu, 1),
        "peak_rss_gb": round(_peak_rss_gb(), 2),
        "result": str(result) if result else None,
    }


BASELINE_SQL = """
COPY (
  WITH q AS (
    SELECT DISTINCT lower(first_name) AS f, lower(surname) AS s, replace(upper(postcode), ' ', '') AS p
    FROM read_parquet(?) WHERE pension_credit_guarantee)
  SELECT c.account_ref AS account_reference,
         CASE WHEN q.f IS NULL THEN 'not matched' ELSE 'eligible' END AS result
  FROM read_parquet(?) c
  LEFT JOIN q ON lower(c.first_name) = q.f AND lower(c.surname) = q.s
             AND replace(upper(c.supply_postcode), ' ', '') = q.p
) TO '{out}' (FORMAT csv, HEADER true)
"""


def child_baseline(claimants: Path, customers: Path, out: Path) -> dict:
    started = time.perf_counter()
    cpu = time.process_time()
    with duckdb.connect(config={"threads": 2, "memory_limit": "2GB"}) as connection:
        connection.execute(BASELINE_SQL.format(out=out.as_posix()), [str(claimants), str(customers)])
    return {
        "seconds": round(time.perf_counter() - started, 2),
        "cpu_seconds": round(time.process_time() - cpu, 1),
        "peak_rss_gb": round(_peak_rss_gb(), 2),
        "result": str(out),
    }


def _in_child(*args: str) -> dict:
    completed = subprocess.run([sys.executable, __file__, "--child", *args], capture_output=True, text=True)
    if completed.returncode != 0:
        raise SystemExit(f"child {args[0]} failed:\n{completed.stderr[-4000:]}")
    return json.loads(completed.stdout.strip().splitlines()[-1])


# ------------------------------------------------------------------ accuracy against the synth truth


def accuracy(result: Path, claimants: Path, customers: Path, synth: Path) -> dict:
    """Precision and recall of 'eligible' against who really receives Pension Credit Guarantee Credit."""
    with duckdb.connect(config={"threads": 2, "memory_limit": "2GB"}) as connection:
        tp, fp, fn, n = connection.execute(
            f"""
            WITH qualifying AS (
                SELECT DISTINCT t.person_id FROM read_parquet('{claimants}') d
                JOIN read_parquet('{synth / 'truth' / 'dwp-benefits.parquet'}') t USING (record_id)
                WHERE d.pension_credit_guarantee),
            truth AS (
                SELECT c.account_ref, q.person_id IS NOT NULL AS really
                FROM read_parquet('{customers}') c
                JOIN read_parquet('{synth / 'truth' / 'brightwatt-customers.parquet'}') t USING (record_id)
                LEFT JOIN qualifying q USING (person_id))
            SELECT count(*) FILTER (WHERE really AND r.result = 'eligible'),
                   count(*) FILTER (WHERE NOT really AND r.result = 'eligible'),
                   count(*) FILTER (WHERE really AND r.result <> 'eligible'),
                   count(*)
            FROM read_csv('{result}', header = true, all_varchar = true) r
            JOIN truth ON truth.account_ref = r.account_reference
            """
        ).fetchall()[0]
        columns = [row[0] for row in connection.execute(
            f"DESCRIBE SELECT * FROM read_csv('{result}', header = true)").fetchall()]
    return {
        "rows": n,
        "columns": columns,
        "true_positives": tp,
        "false_positives": fp,
        "false_negatives": fn,
        "precision": round(tp / (tp + fp), 4) if tp + fp else None,
        "recall": round(tp / (tp + fn), 4) if tp + fn else None,
    }


# ------------------------------------------------------------------ the run


def _git() -> dict:
    def git(*args: str) -> str:
        try:
            return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=10).stdout
        except OSError:
            return ""

    return {
        "commit": git("rev-parse", "HEAD").strip() or None,
        "src_changes": [line[3:] for line in git("status", "--porcelain", "src").splitlines() if line.strip()],
    }


def run(args: argparse.Namespace) -> dict:
    claimants_n = 500_000 if args.quick else CLAIMANTS
    customers_n = 100_000 if args.quick else CUSTOMERS
    files = prepare(PERSONS, claimants_n, customers_n)
    versions = {"duckdb": duckdb.__version__}
    report: dict = {
        "benchmark": "eligibility (Warm Home Discount)",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": describe(**versions),
        **_git(),
        "data": {"persons": PERSONS, "seed": SEED, "claimants": claimants_n, "customers": customers_n},
        "targets": {"seconds": TARGET_SECONDS, "peak_rss_gb": TARGET_RSS_GB},
        "database": "postgresql" if args.database_url else "sqlite",
    }
    hub_dir = CACHE / "hub"
    shutil.rmtree(hub_dir, ignore_errors=True)
    from accord.clock import utcnow
    from accord.demo.seed import seed_agreements, seed_registry
    from accord.runtime import Hub
    from accord.services import holdings

    if args.database_url:  # a fresh schema each run on PostgreSQL
        from sqlalchemy import create_engine, text

        engine = create_engine(args.database_url)
        with engine.begin() as connection:
            connection.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
        engine.dispose()
    hub = Hub.open(_settings(hub_dir, args.database_url))
    with hub.transaction() as session:
        seed_registry(session, hub.framework, utcnow())
        seed_agreements(session, hub.framework, utcnow())
    started = time.perf_counter()
    info = holdings.load_holding(hub, "dwp-benefits", files["claimants"])
    report["dwp_holding_load_seconds"] = round(time.perf_counter() - started, 1)
    report["dwp_holding_rows"] = info.rows
    hub.close()

    print(f"baseline: plain DuckDB join of {customers_n:,} customers with {claimants_n:,} claimants ...", flush=True)
    baseline_out = CACHE / "baseline-result.csv"
    report["baseline"] = _in_child("baseline", str(files["claimants"]), str(files["customers"]), str(baseline_out))
    print(f"  {report['baseline']['seconds']} s, peak RSS {report['baseline']['peak_rss_gb']} GB", flush=True)
    print("eligibility job ...", flush=True)
    report["job"] = _in_child("job", str(hub_dir), str(files["customers"]), args.database_url or "")
    job = report["job"]
    print(f"  {job['state']} in {job['seconds']['total']} s, peak RSS {job['peak_rss_gb']} GB", flush=True)
    report["accuracy"] = {
        "job": accuracy(Path(job["result"]), files["claimants"], files["customers"], files["synth"]),
        "baseline": accuracy(baseline_out, files["claimants"], files["customers"], files["synth"]),
    }
    for part in ("job", "baseline"):  # recorded relative to the repository
        if report[part].get("result"):
            report[part]["result"] = repo_path(report[part]["result"])
    report["verdict"] = {
        "time": "met" if job["seconds"]["total"] <= TARGET_SECONDS else "missed",
        "memory": "met" if job["peak_rss_gb"] <= TARGET_RSS_GB else "missed",
        "job_over_baseline_time": round(job["seconds"]["total"] / max(report["baseline"]["seconds"], 1e-9), 1),
    }
    report["machine"]["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--prepare-only", action="store_true", help="only build the cached input files")
    parser.add_argument("--quick", action="store_true", help="100k customers against 500k claimants")
    parser.add_argument("--database-url", default=None, help="run the job on this PostgreSQL database (emptied!)")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, *rest = args.child
        if kind == "job":
            print(json.dumps(child_job(Path(rest[0]), Path(rest[1]), rest[2] or None)))
        else:
            print(json.dumps(child_baseline(Path(rest[0]), Path(rest[1]), Path(rest[2]))))
        return
    if args.prepare_only:
        print({name: str(path) for name, path in prepare().items()})
        return
    report = run(args)
    RESULTS.mkdir(parents=True, exist_ok=True)
    name = (f"eligibility-{report['date'][:10]}{'-postgresql' if args.database_url else ''}"
            f"{'-quick' if args.quick else ''}.json")
    (RESULTS / name).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(json.dumps({k: report[k] for k in ("job", "baseline", "accuracy", "verdict")}, indent=2))
    print(f"written to bench/results/{name}")


if __name__ == "__main__":
    main()
