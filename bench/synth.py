"""Synthetic data benchmark: 1M persons with every body's view, then 10M by streaming.

Run on demand, never as a test:

    .venv/bin/python bench/synth.py                 # 1M, then 10M (about ten minutes)
    .venv/bin/python bench/synth.py --quick         # 100k only (< 30 s)
    .venv/bin/python bench/synth.py --persons 1000000 --large 0

Targets (issue 4): 1M persons with all bodies' views in <= 120 s and <= 4 GB
peak memory on 2 cores; 10M persons completes by streaming with bounded memory.

Each run is a separate `accord.synth.generate` process. Its peak memory is the
peak of the summed resident set size (RSS) of that process and its worker
processes, sampled every 0.2 s from /proc (so a peak shorter than that can be
missed; the largest single process's ru_maxrss is reported too).

Baseline, measured in the same run: the I/O floor. For every file the
generator wrote (views, truth and population), a table with the same schema
and row count of random values is built with NumPy and written with pyarrow
alone (same compression and row groups), in one process. Generation cannot be
faster than writing its output.

Results go to bench/results/synth-<date>[-quick].json; docs/performance.md
summarises them.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
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
SEED = 20240601
GB = 1024**3


def say(message: str = "") -> None:
    print(message, flush=True)


def machine() -> dict:
    import numpy
    import pyarrow

    return describe(numpy=numpy.__version__, pyarrow=pyarrow.__version__)


# --------------------------------------------------------------------------- memory of a process tree


def _tree_rss(root: int) -> int:
    """Summed RSS (bytes) of a process and all its descendants, from /proc."""
    parents: dict[int, int] = {}
    rss: dict[int, int] = {}
    page = os.sysconf("SC_PAGE_SIZE")
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
            fields = stat[stat.rindex(")") + 2:].split()
            parents[int(entry)] = int(fields[1])
            rss[int(entry)] = int(fields[21]) * page
        except (OSError, ValueError, IndexError):
            continue
    total, stack = 0, [root]
    children: dict[int, list[int]] = {}
    for pid, ppid in parents.items():
        children.setdefault(ppid, []).append(pid)
    while stack:
        pid = stack.pop()
        total += rss.get(pid, 0)
        stack.extend(children.get(pid, []))
    return total


class TreeSampler(threading.Thread):
    def __init__(self, pid: int, interval: float = 0.2) -> None:
        super().__init__(daemon=True)
        self.pid, self.interval, self.peak = pid, interval, 0
        self._halt = threading.Event()

    def run(self) -> None:
        while not self._halt.is_set():
            self.peak = max(self.peak, _tree_rss(self.pid))
            self._halt.wait(self.interval)

    def stop(self) -> None:
        self._halt.set()
        self.join()


# --------------------------------------------------------------------------- runs

_CHILD = """
import json, resource, sys, time
from accord.synth import generate
persons, seed, out, workers, chunk = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
t = time.perf_counter()
m = generate(persons=persons, seed=seed, out=out, workers=workers, chunk_size=chunk)
elapsed = time.perf_counter() - t
print(json.dumps({"seconds": elapsed, "rows": m.total_rows, "datasets": len(m.datasets),
                  "self_maxrss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                  "children_maxrss_kb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}))
"""


def run_generate(persons: int, out: Path, workers: int, chunk: int) -> dict:
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    started = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-c", _CHILD, str(persons), str(SEED), str(out), str(workers), str(chunk)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )
    sampler = TreeSampler(proc.pid)
    sampler.start()
    stdout, stderr = proc.communicate()
    sampler.stop()
    wall = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"generation failed ({proc.returncode}):\n{stderr}")
    result = json.loads(stdout.strip().splitlines()[-1])
    size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    return {
        "persons": persons, "workers": workers, "chunk_size": chunk,
        "seconds": round(result["seconds"], 2), "wall_seconds_with_startup": round(wall, 2),
        "rows": result["rows"], "datasets": result["datasets"],
        "peak_tree_rss_gb": round(sampler.peak / GB, 3),
        "largest_process_maxrss_gb": round(max(result["self_maxrss_kb"], result["children_maxrss_kb"]) / 1024**2, 3),
        "output_bytes": size,
        "persons_per_second": round(persons / result["seconds"]),
    }


def io_floor(out: Path, scratch: Path) -> dict:
    """Write random tables with the schemas and row counts of every file in ``out``, with pyarrow alone."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    from accord.synth.output import COMPRESSION, ROW_GROUP

    rng = np.random.default_rng(1)
    letters = np.frombuffer(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ", dtype=np.uint8)

    def column(field: pa.Field, n: int) -> pa.Array:
        t = field.type
        if pa.types.is_string(t):
            width = 12
            m = letters[rng.integers(0, 26, (n, width))]
            return pa.array(m.view(f"S{width}").ravel()).cast(pa.string())
        if pa.types.is_date(t):
            return pa.array(np.datetime64("1950-01-01") + rng.integers(0, 27000, n), type=t)
        if pa.types.is_boolean(t):
            return pa.array(rng.random(n) < 0.5)
        if pa.types.is_decimal(t):
            return pa.array(np.round(rng.random(n) * 1000, 2)).cast(t)
        if pa.types.is_floating(t):
            return pa.array(rng.random(n), type=t)
        return pa.array(rng.integers(0, min(10**6, 2 ** (t.bit_width - 1) - 1), n)).cast(t)

    files = sorted(out.rglob("*.parquet"))
    rows = 0
    started = time.perf_counter()
    for path in files:
        meta = pq.read_metadata(path)
        schema = meta.schema.to_arrow_schema()
        n = meta.num_rows
        rows += n
        target = scratch / path.relative_to(out)
        target.parent.mkdir(parents=True, exist_ok=True)
        with pq.ParquetWriter(target, schema, compression=COMPRESSION) as writer:
            for offset in range(0, n, ROW_GROUP):
                k = min(ROW_GROUP, n - offset)
                writer.write_table(pa.table([column(f, k) for f in schema], schema=schema), row_group_size=ROW_GROUP)
    seconds = time.perf_counter() - started
    return {"what": "write random data with the same schemas and row counts with pyarrow alone, one process",
            "files": len(files), "rows": rows, "seconds": round(seconds, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--persons", type=int, default=1_000_000)
    parser.add_argument("--large", type=int, default=10_000_000, help="persons for the streaming run (0: skip)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--chunk-size", type=int, default=100_000)
    parser.add_argument("--quick", action="store_true", help="100k persons, no large run")
    args = parser.parse_args()
    if args.quick:
        args.persons, args.large = 100_000, 0

    results: dict = {
        "benchmark": "synth", "mode": "quick" if args.quick else "full",
        "date": datetime.now(UTC).isoformat(timespec="seconds"), "machine": machine(),
        "targets": {"persons": 1_000_000, "seconds": 120, "peak_gb": 4.0},
        "parameters": {"seed": SEED, "workers": args.workers, "chunk_size": args.chunk_size},
    }
    base = Path(tempfile.mkdtemp(prefix="accord-bench-synth-", dir=ROOT / "var" if (ROOT / "var").is_dir() else None))
    try:
        say(f"synth benchmark: {args.persons:,} persons, {args.workers} workers, output under {base}")
        out = base / "main"
        run = run_generate(args.persons, out, args.workers, args.chunk_size)
        results["main"] = run
        say(f"  generate: {run['seconds']:.1f} s, {run['rows']:,} rows in {run['datasets']} datasets, "
            f"peak RSS {run['peak_tree_rss_gb']:.2f} GB (tree), {run['output_bytes'] / 1e6:.0f} MB written")
        floor = io_floor(out, base / "floor")
        results["baseline_io_floor"] = floor
        say(f"  baseline (pyarrow writes random data of the same shape): {floor['seconds']:.1f} s "
            f"for {floor['rows']:,} rows in {floor['files']} files")
        results["main"]["ratio_to_baseline"] = round(run["seconds"] / floor["seconds"], 2) if floor["seconds"] else None
        shutil.rmtree(base / "floor", ignore_errors=True)
        shutil.rmtree(out, ignore_errors=True)
        if args.persons == 1_000_000:
            results["targets_met"] = {"seconds": run["seconds"] <= 120, "peak_gb": run["peak_tree_rss_gb"] <= 4.0}
        if args.large:
            free = shutil.disk_usage(base).free
            needed = int(run["output_bytes"] * args.large / args.persons * 1.3)
            results["large_disk"] = {"free_bytes": free, "estimated_bytes": needed}
            if free < needed:
                say(f"  skipping {args.large:,}: {free / GB:.1f} GB free, about {needed / GB:.1f} GB needed")
                results["large"] = {"skipped": "not enough disk space"}
            else:
                say(f"  streaming run: {args.large:,} persons ...")
                big = run_generate(args.large, base / "large", args.workers, args.chunk_size)
                results["large"] = big
                say(f"  generate: {big['seconds']:.1f} s, {big['rows']:,} rows, peak RSS "
                    f"{big['peak_tree_rss_gb']:.2f} GB (tree), {big['output_bytes'] / 1e9:.2f} GB written")
    finally:
        shutil.rmtree(base, ignore_errors=True)
    RESULTS.mkdir(parents=True, exist_ok=True)
    suffix = "-quick" if args.quick else ""
    path = RESULTS / f"synth-{datetime.now(UTC).date().isoformat()}{suffix}.json"
    path.write_text(json.dumps(results, indent=2) + "\n")
    say(f"results: {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
