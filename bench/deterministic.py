"""Deterministic cascade at scale: link_tables on 1M x 1M standardised records, against baselines run alongside.

Run on demand, never as a test:

    .venv/bin/python bench/deterministic.py                  # 1M x 1M (synth ~2.2M persons, a few minutes)
    .venv/bin/python bench/deterministic.py --quick          # 100k x 100k (< 1 min)
    .venv/bin/python bench/deterministic.py --rows 1000000 --data /tmp/synth-2m   # reuse generated data

Target (issue 5 item 2 at scale): 1M x 1M in well under a minute on 2 cores.

Data: ``accord synth`` bodies dwp, hmrc and dvla. LEFT is HMRC's PAYE records
(``--rows`` of them); RIGHT is DWP's benefit records topped up with DVLA's
drivers to the same number of rows, so NINO, date of birth and postcode
blocking all carry weight. Both are standardised first (timed apart: it is not
the cascade).

Measured, all in this process, one after the other:

1. ``link_tables`` (DuckDB joins + NumPy grading) with ``--threads`` DuckDB
   threads and grading workers: wall time, CPU time, and peak resident memory
   sampled every 0.1 s while it runs.
2. Baseline, a plain DuckDB exact join: LEFT and RIGHT joined on equal NINO,
   date of birth, surname and first name (the crudest deterministic linkage):
   the cost floor of one DuckDB join of these tables.
3. Baseline, candidate pairs only: the cascade's three blocking joins in DuckDB,
   counted, with no grading: what generating the candidates costs.
4. Baseline, the previous implementation: ``verify_all_python`` (one applicant at a
   time in Python against a blocking index) on ``--sample`` LEFT rows against all
   of RIGHT; index build and per-applicant time, scaled to all LEFT rows.
   The same sample through the batch engine must give identical rows (checked).
5. Accuracy of the links against the synth truth (``accord.linkage.evaluate``).

Results go to bench/results/deterministic-<date>[-quick].json; docs/performance.md summarises them.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
from machine import describe  # noqa: E402 - bench/machine.py, beside this script

RESULTS = ROOT / "bench" / "results"
SEED = 20260501
MAPPING = {"dob": "date_of_birth", "address": "address_line_1"}
PAYE_PER_PERSON = 0.45  # hmrc-paye rows per synthetic person, with a margin (about 0.475 at 2M persons)


def say(message: str = "") -> None:
    print(message, flush=True)


def source_state() -> dict:
    def git(*args: str) -> str:
        try:
            return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=10).stdout
        except (OSError, subprocess.SubprocessError):
            return ""

    measured = ROOT / "src" / "accord" / "linkage" / "deterministic.py"
    return {
        "commit": git("rev-parse", "HEAD").strip() or None,
        "src_changes": [line[3:] for line in git("status", "--porcelain", "src").splitlines() if line.strip()],
        "deterministic_py_sha256": hashlib.sha256(measured.read_bytes()).hexdigest()[:16],
    }


def rss_bytes() -> int:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


class PeakMemory:
    """Peak RSS of this process while the block runs (sampled every 0.1 s)."""

    def __enter__(self) -> PeakMemory:
        self.peak, self.start, self._stop = 0, rss_bytes(), threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, rss_bytes())
            self._stop.wait(0.1)

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss_bytes())


def timed(fn, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN201
    wall, cpu = time.perf_counter(), time.process_time()
    with PeakMemory() as memory:
        result = fn(*args, **kwargs)
    return result, {"wall_s": round(time.perf_counter() - wall, 3), "cpu_s": round(time.process_time() - cpu, 3),
                    "peak_rss_gb": round(memory.peak / 1024**3, 3),
                    "rss_before_gb": round(memory.start / 1024**3, 3)}


# --------------------------------------------------------------------------- data


def ensure_data(data: Path, persons: int) -> None:
    if (data / "manifest.json").exists() and json.loads((data / "manifest.json").read_text())["persons"] >= persons:
        return
    say(f"generating {persons:,} synthetic persons (dwp, hmrc, dvla) into {data} ...")
    data.parent.mkdir(parents=True, exist_ok=True)  # a fresh checkout has no var/bench yet
    code = ("from accord.synth import generate; "
            f"generate(persons={persons}, seed={SEED}, out={str(data)!r}, bodies='dwp,hmrc,dvla', "
            "overwrite=True, workers=2)")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


def load(data: Path, rows: int):  # noqa: ANN201
    import pyarrow as pa
    import pyarrow.parquet as pq

    from accord.linkage import standardise_table

    def view(name: str):  # noqa: ANN202
        return pq.read_table(data / f"{name}.parquet"), pq.read_table(data / "truth" / f"{name}.parquet",
                                                                          columns=["record_id", "person_id"])

    paye, paye_truth = view("hmrc-paye")
    dwp, dwp_truth = view("dwp-benefits")
    dvla, dvla_truth = view("dvla-drivers")
    if paye.num_rows < rows or dwp.num_rows + dvla.num_rows < rows:
        raise SystemExit(f"{data} is too small for {rows:,} rows a side; use more --persons")
    left_raw, left_truth = paye.slice(0, rows), paye_truth.slice(0, rows)
    top_up = min(rows, dwp.num_rows)
    right_parts = [standardise_table(dwp.slice(0, top_up), MAPPING, source="dwp").table]
    truth_parts = [dwp_truth.slice(0, top_up)]
    if rows > top_up:
        right_parts.append(standardise_table(dvla.slice(0, rows - top_up), MAPPING, source="dvla").table)
        truth_parts.append(dvla_truth.slice(0, rows - top_up))
    left = standardise_table(left_raw, MAPPING, source="hmrc").table
    right = pa.concat_tables(right_parts, promote_options="default")
    return left, right, left_truth, pa.concat_tables(truth_parts)


# --------------------------------------------------------------------------- baselines


def exact_join(left, right, threads: int, memory_limit: str) -> int:  # noqa: ANN001
    from accord.linkage.deterministic import connect

    con = connect(threads, memory_limit)
    con.register("l", left)
    con.register("r", right)
    sql = ("SELECT l.id AS left_id, r.id AS right_id FROM l JOIN r ON l.nino = r.nino AND l.dob = r.dob "
           "AND l.surname = r.surname AND l.first_name = r.first_name")
    pairs = con.sql(sql).to_arrow_table().num_rows
    con.close()
    return pairs


def candidate_pairs(left, right, threads: int, memory_limit: str) -> int:  # noqa: ANN001
    from accord.linkage.deterministic import connect

    con = connect(threads, memory_limit)
    con.register("l", left)
    con.register("r", right)
    sql = """SELECT count(*) FROM (
        SELECT l.id, r.id FROM l JOIN r ON l.nino = r.nino
        UNION ALL SELECT l.id, r.id FROM l JOIN r ON l.dob = r.dob WHERE NOT coalesce(l.nino = r.nino, false)
        UNION ALL SELECT l.id, r.id FROM l JOIN r ON l.postcode = r.postcode
            WHERE NOT coalesce(l.nino = r.nino, false) AND NOT coalesce(l.dob = r.dob, false))"""
    count = con.sql(sql).fetchall()[0][0]
    con.close()
    return count


def python_baseline(left, right, sample: int) -> dict:  # noqa: ANN001
    from accord.linkage.deterministic import BLOCKING_KEYS, BlockingIndex, verify, verify_all

    rows = left.slice(0, sample)
    (index, build) = timed(lambda: BlockingIndex(right.to_pylist(), BLOCKING_KEYS))
    applicants = rows.to_pylist()
    started_wall, started_cpu = time.perf_counter(), time.process_time()
    results = [verify(a, index.candidates(a)) for a in applicants]
    per_wall = (time.perf_counter() - started_wall) / len(applicants)
    per_cpu = (time.process_time() - started_cpu) / len(applicants)
    expected = [(a.get("id"), v.grade, v.rule, ",".join(v.agreed), v.candidate_id) for a, v in zip(applicants, results)]
    batch = verify_all(rows, right).to_pylist()
    got = [(r["applicant_id"], r["grade"], r["rule"], r["agreed"], r["candidate_id"]) for r in batch]
    mismatches = sum(1 for a, b in zip(expected, got) if a != b)
    return {"sample": len(applicants), "index_build": build, "per_applicant_wall_ms": round(per_wall * 1e3, 4),
            "per_applicant_cpu_ms": round(per_cpu * 1e3, 4), "batch_mismatches_on_sample": mismatches,
            "estimated_wall_s_all_left": round(build["wall_s"] + per_wall * left.num_rows, 1),
            "estimated_cpu_s_all_left": round(build["cpu_s"] + per_cpu * left.num_rows, 1)}


def accuracy(links, left_truth, right_truth) -> dict:  # noqa: ANN001
    from accord.linkage.evaluate import Truth, evaluate

    lt, rt = Truth.from_table(left_truth, "hmrc truth"), Truth.from_table(right_truth, "dwp+dvla truth")
    out = {}
    for threshold in (0.9, 0.5):
        e = evaluate(links.drop_columns(["agreed"]), lt, rt, threshold)
        out[f"at_{threshold}"] = {k: (round(v, 4) if isinstance(v, float) else v) for k, v in e.summary().items()}
    return out


# --------------------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000, help="records a side")
    parser.add_argument("--quick", action="store_true", help="100k a side, 10k Python sample")
    parser.add_argument("--data", type=Path, help="synth directory to use or create (default: a temporary one)")
    parser.add_argument("--sample", type=int, default=50_000, help="LEFT rows for the pure-Python baseline")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--memory-limit", default="6GB")
    parser.add_argument("--repeat", type=int, default=2, help="runs of link_tables (the best is reported)")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    if args.quick:
        args.rows, args.sample = 100_000, 10_000
    import duckdb
    import numpy
    import pyarrow

    from accord.linkage.deterministic import connect, link_tables

    started = datetime.now(UTC)
    result: dict = {"benchmark": "deterministic", "date": started.isoformat(timespec="seconds"),
                    "machine": describe(duckdb=duckdb.__version__, numpy=numpy.__version__,
                                        pyarrow=pyarrow.__version__),
                    "source": source_state(), "rows_per_side": args.rows, "threads": args.threads,
                    "memory_limit": args.memory_limit}
    with tempfile.TemporaryDirectory(prefix="accord-bench-det-") as tmp:
        data = args.data or Path(tmp) / "synth"
        ensure_data(data, int(args.rows / PAYE_PER_PERSON) + 1)
        say(f"standardising {args.rows:,} + {args.rows:,} records ...")
        (left, right, left_truth, right_truth), standardise = timed(load, data, args.rows)
        result["standardise"] = standardise
        say(f"  {standardise['wall_s']} s wall, {standardise['cpu_s']} s CPU")

        runs = []
        for i in range(args.repeat):
            con = connect(args.threads, args.memory_limit)
            links, figures = timed(link_tables, left, right, con=con)
            con.close()
            runs.append(figures)
            say(f"link_tables run {i + 1}: {figures['wall_s']} s wall, {figures['cpu_s']} s CPU, "
                f"peak RSS {figures['peak_rss_gb']} GB; {links.num_rows:,} links")
        best = min(runs, key=lambda r: r["wall_s"])
        grades = pyarrow.compute.value_counts(links.column("rule")).to_pylist()
        result["link_tables"] = {"runs": runs, "best": best, "links": links.num_rows,
                                 "rules": {g["values"]: g["counts"] for g in grades}}

        pairs, floor = timed(candidate_pairs, left, right, args.threads, args.memory_limit)
        result["baseline_candidate_pairs"] = {**floor, "pairs": pairs}
        say(f"baseline, candidate pairs only (DuckDB, 3 joins): {floor['wall_s']} s wall, {floor['cpu_s']} s CPU; "
            f"{pairs:,} pairs")
        exact, join = timed(exact_join, left, right, args.threads, args.memory_limit)
        result["baseline_exact_join"] = {**join, "pairs": exact}
        say(f"baseline, DuckDB exact join on nino+dob+surname+first_name: {join['wall_s']} s wall, "
            f"{join['cpu_s']} s CPU; {exact:,} pairs")
        say(f"baseline, verify_all_python on {args.sample:,} LEFT rows ...")
        python = python_baseline(left, right, args.sample)
        result["baseline_python"] = python
        say(f"  index {python['index_build']['wall_s']} s, {python['per_applicant_wall_ms']} ms per applicant; "
            f"estimated {python['estimated_wall_s_all_left']} s for all {args.rows:,}; "
            f"batch mismatches on the sample: {python['batch_mismatches_on_sample']}")
        result["accuracy"] = accuracy(links, left_truth, right_truth)
        for name, figures in result["accuracy"].items():
            say(f"accuracy {name}: precision {figures['precision']}, recall {figures['recall']}, F1 {figures['f1']}")
    result["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    result["max_rss_gb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2, 3)
    result["speedup_vs_python_estimate"] = round(python["estimated_wall_s_all_left"] / best["wall_s"], 1)
    out = args.out or RESULTS / f"deterministic-{started.date().isoformat()}{'-quick' if args.quick else ''}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    say(f"wrote {out}")


if __name__ == "__main__":
    main()
