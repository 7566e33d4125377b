"""Warm Home Discount benchmark (issue 6): 1M supplier customers against 5M claimants.

Run on demand, never as a test (data preparation is cached under var/bench/eligibility/):

    .venv/bin/python bench/eligibility.py --prepare-only   # build the synthetic files once
    .venv/bin/python bench/eligibility.py                  # the full run

Work in progress: the measured part is added below once the service exists.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import duckdb

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from accord.synth.generate import generate  # noqa: E402

CACHE = ROOT / "var" / "bench" / "eligibility"
SEED = 2026
# dwp-benefits holds ~0.275 award rows per synthetic person, so 18.5M persons give > 5M claimant rows;
# brightwatt-energy holds ~12% of persons as account holders (> 2M), of which the first 1M are kept.
PERSONS = 18_500_000
CLAIMANTS = 5_000_000
CUSTOMERS = 1_000_000


def synth_dir(persons: int = PERSONS, seed: int = SEED) -> Path:
    return CACHE / f"synth-{persons}-{seed}"


def prepare(persons: int = PERSONS, claimants: int = CLAIMANTS, customers: int = CUSTOMERS) -> dict[str, Path]:
    """Generate (once) the synthetic population's DWP and energy views, then cut the benchmark files."""
    out = synth_dir(persons)
    if not (out / "manifest.json").is_file():
        started = time.perf_counter()
        last = [0.0]

        def progress(done: int, total: int) -> None:
            if time.perf_counter() - last[0] > 30:
                last[0] = time.perf_counter()
                print(f"  synth: {done:,}/{total:,} persons ({time.perf_counter() - started:.0f} s)", flush=True)

        print(f"generating {persons:,} synthetic persons (dwp, energy) into {out} ...", flush=True)
        generate(persons=persons, seed=SEED, out=out, bodies="dwp,energy", workers=2, overwrite=True,
                 progress=progress)
        print(f"  done in {time.perf_counter() - started:.0f} s", flush=True)
    files = {
        "claimants": CACHE / f"claimants-{claimants}.parquet",
        "customers": CACHE / f"customers-{customers}.parquet",
    }
    sources = {"claimants": (out / "dwp-benefits.parquet", claimants),
               "customers": (out / "brightwatt-customers.parquet", customers)}
    with duckdb.connect() as connection:
        for name, path in files.items():
            if path.is_file():
                continue
            source, rows = sources[name]
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--prepare-only", action="store_true", help="only build the cached input files")
    args = parser.parse_args()
    files = prepare()
    if args.prepare_only:
        print({name: str(path) for name, path in files.items()})
        return


if __name__ == "__main__":
    main()
