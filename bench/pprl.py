"""Privacy-preserving linkage benchmark: Dice throughput, encoding a million records, linking 1M x 1M.

Run on demand, never as a test:

    .venv/bin/python bench/pprl.py                    # full: ~2M synthetic persons (about 1M rows a side)
    .venv/bin/python bench/pprl.py --quick            # 100k persons, no Splink baseline (< 1 min)
    .venv/bin/python bench/pprl.py --synth DIR        # reuse an `accord synth` output with dvla and hmrc
    .venv/bin/python bench/pprl.py --skip-splink      # PPRL figures only

Targets (issue 5): at least 1e8 Dice comparisons per second per core; PPRL
1M x 1M within 2x the plaintext probabilistic time, F1 within 0.01.

Each figure has a baseline measured in the same run:

- Dice kernel (rates per CPU second of the one thread, i.e. per core): Accord's NumPy kernels (``np.bitwise_count`` on uint64 words,
  one thread) against (a) a Python loop over ``int.bit_count`` and (b) NumPy on
  unpacked bits (one byte per bit), at filter sizes 64 to 1024 bits. Two NumPy
  kernels: "one-vs-many" compares one filter with a block of filters (the
  all-pairs measure anonlink reports), "pairs" compares arbitrary candidate
  pairs gathered from million-row arrays (what the linker does).
- Encoding: ``encode_table`` on every row against a per-record Python encoder
  (an HMAC per bigram per record, setting bits in a Python int, as clkhash
  encodes), timed on a sample and given per record.
- Linking: ``link_encoded`` on DVLA drivers x HMRC PAYE against
  ``accord.linkage.probabilistic`` (Splink on DuckDB: train + predict) on the
  same standardised records, with precision, recall and F1 from the synthetic
  truth for both.

Results go to bench/results/pprl-<date>[-quick].json; docs/performance.md
summarises them. The machine is shared: read ratios, not absolute times.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
from machine import describe  # noqa: E402 - bench/machine.py, beside this script

import numpy as np  # noqa: E402
import pyarrow as pa  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402

from accord.linkage import bloom, pprl  # noqa: E402

RESULTS = ROOT / "bench" / "results"
MAPPING = {"dob": "date_of_birth", "address": "address_line_1"}
LEFT, RIGHT = "dvla-drivers", "hmrc-paye"
SECRET = b"benchmark secret shared by the two bodies, 48 bytes.."


def say(message: str = "") -> None:
    print(message, flush=True)


def peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 / 1024


def timed(fn, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN201
    started = time.perf_counter()
    cpu = time.process_time()
    result = fn(*args, **kwargs)
    return result, time.perf_counter() - started, time.process_time() - cpu


# --------------------------------------------------------------------------- Dice kernels


def _random_filters(rng: np.random.Generator, n: int, words: int) -> np.ndarray:
    """Word-major (words, n) filters about 40% full, like folded filters."""
    return (rng.integers(0, 2**63, size=(words, n), dtype=np.int64).view(np.uint64)
            & rng.integers(0, 2**63, size=(words, n), dtype=np.int64).view(np.uint64)
            | (rng.integers(0, 2**63, size=(words, n), dtype=np.int64).view(np.uint64)
               & rng.integers(0, 2**63, size=(words, n), dtype=np.int64).view(np.uint64)
               & rng.integers(0, 2**63, size=(words, n), dtype=np.int64).view(np.uint64)))


def one_vs_many(left: np.ndarray, right: np.ndarray, right_counts: np.ndarray) -> float:
    """Every left filter against every right one with ``bloom.dice_one_to_many``; a checksum of the values."""
    return float(sum(bloom.dice_one_to_many(left[:, i], right, right_counts)[0] for i in range(left.shape[1])))


def dice_kernels(rng: np.random.Generator, quick: bool) -> list[dict]:
    rows = []
    for bits in (64, 128, 256, 512, 1024):
        words = bits // 64
        right = _random_filters(rng, 200_000, words)
        left = _random_filters(rng, 64 if not quick else 16, words)
        rc = bloom.popcounts(right)
        _, _, cpu = timed(one_vs_many, left, right, rc)
        block_rate = left.shape[1] * right.shape[1] / cpu

        big_l, big_r = _random_filters(rng, 1_000_000, words), _random_filters(rng, 1_000_000, words)
        blc, brc = bloom.popcounts(big_l), bloom.popcounts(big_r)
        n_pairs = 2_000_000
        li = np.sort(rng.integers(0, 1_000_000, n_pairs))
        ri = rng.integers(0, 1_000_000, n_pairs)

        def pairs() -> np.ndarray:
            return bloom.dice(bloom.pair_common_bits(big_l, big_r, li, ri), blc[li], brc[ri])

        _, _, cpu = timed(pairs)
        pair_rate = n_pairs / cpu

        # baseline (a): Python ints and int.bit_count, one pair at a time
        ints_l = [int.from_bytes(big_l[:, i].tobytes(), "little") for i in range(2000)]
        ints_r = [int.from_bytes(big_r[:, i].tobytes(), "little") for i in range(2000)]
        n_py = 200_000

        def python_loop() -> list[float]:
            out = []
            for k in range(n_py):
                a, b = ints_l[k % 2000], ints_r[(k * 7) % 2000]
                out.append(2 * (a & b).bit_count() / (a.bit_count() + b.bit_count()))
            return out

        reference, _, cpu = timed(python_loop)
        python_rate = n_py / cpu
        # the kernels agree with the reference
        check_l = np.arange(2000)
        check_r = (np.arange(2000) * 7) % 2000
        ours = bloom.dice(bloom.pair_common_bits(big_l, big_r, check_l, check_r), blc[check_l], brc[check_r])
        assert np.allclose(ours, reference[:2000], atol=1e-6)

        # baseline (b): NumPy on unpacked bits (a bool per bit)
        n_unpacked = 200_000
        unpacked_l = np.unpackbits(big_l[:, :n_unpacked].T.copy().view(np.uint8), axis=1).astype(bool)
        unpacked_r = np.unpackbits(big_r[:, :n_unpacked].T.copy().view(np.uint8), axis=1).astype(bool)

        def unpacked() -> np.ndarray:
            common = (unpacked_l & unpacked_r).sum(axis=1)
            return 2 * common / (unpacked_l.sum(axis=1) + unpacked_r.sum(axis=1))

        _, _, cpu = timed(unpacked)
        unpacked_rate = n_unpacked / cpu
        row = {"bits": bits, "ours_one_vs_many_per_s": block_rate, "ours_candidate_pairs_per_s": pair_rate,
               "baseline_python_bit_count_per_s": python_rate, "baseline_unpacked_numpy_per_s": unpacked_rate}
        say(f"  {bits:>5} bits: one-vs-many {block_rate / 1e6:8.1f} M/s | candidate pairs {pair_rate / 1e6:6.1f} M/s"
            f" | python int.bit_count {python_rate / 1e6:5.2f} M/s | unpacked numpy {unpacked_rate / 1e6:5.1f} M/s")
        rows.append(row)
        del big_l, big_r, unpacked_l, unpacked_r
    return rows


# --------------------------------------------------------------------------- encoding


def python_encoder(table: pa.Table, key: bytes) -> list[dict[str, int]]:
    """The per-record baseline: an HMAC per bigram per record, bits set in a Python int, then folded."""
    keys = {spec.name: bloom.field_key(key, spec.name) for spec in bloom.FIELD_SPECS}
    out = []
    for record in table.to_pylist():
        filters = {}
        for spec in bloom.FIELD_SPECS:
            value = record.get(spec.name)
            if value is None or spec.tokens == "date":
                continue
            text = f"_{value}_".encode()
            bits = 0
            for i in range(len(text) - 1):
                digest = hmac.digest(keys[spec.name], (text[i] * 256 + text[i + 1]).to_bytes(8, "big"),
                                     hashlib.sha512)
                for j in range(spec.hashes):
                    bits |= 1 << (int.from_bytes(digest[2 * j:2 * j + 2], "little") % (2 * spec.bits))
            filters[spec.name] = (bits ^ (bits >> spec.bits)) & ((1 << spec.bits) - 1)
        out.append(filters)
    return out


# --------------------------------------------------------------------------- data and linking


def make_synth(persons: int, out: Path) -> None:
    from accord.synth import generate

    out.parent.mkdir(parents=True, exist_ok=True)  # a fresh checkout has no var/bench yet
    generate(persons=persons, seed=2026, out=out, bodies="dvla,hmrc", workers=2, overwrite=True)


def standardised(synth: Path, name: str) -> tuple[pa.Table, pa.Table]:
    from accord.linkage.prepare import prepare_table

    raw = pq.read_table(synth / f"{name}.parquet")
    std = prepare_table(raw, {k: v for k, v in MAPPING.items() if v in raw.column_names}, "record_id", name).table
    return std, pq.read_table(synth / "truth" / f"{name}.parquet", columns=["record_id", "person_id"])


def f1(links: pa.Table, left_truth: pa.Table, right_truth: pa.Table) -> dict:
    import duckdb

    con = duckdb.connect()
    con.register("links", links.select(["left_id", "right_id"]))
    con.register("lt", left_truth)
    con.register("rt", right_truth)
    true_pairs = con.execute("SELECT count(*) FROM lt JOIN rt USING (person_id)").fetchone()[0]
    found = links.num_rows
    correct = con.execute("SELECT count(*) FROM links JOIN lt ON lt.record_id = left_id "
                          "JOIN rt ON rt.record_id = right_id WHERE lt.person_id = rt.person_id").fetchone()[0]
    precision = correct / found if found else 1.0
    recall = correct / true_pairs if true_pairs else 1.0
    return {"true_pairs": true_pairs, "linked": found, "correct": correct, "precision": precision,
            "recall": recall, "f1": 2 * precision * recall / (precision + recall) if precision + recall else 0.0}


def splink_baseline(left: pa.Table, right: pa.Table, left_truth: pa.Table, right_truth: pa.Table) -> dict:
    from accord.linkage import probabilistic as prob

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "splink.parquet"
        model, train_s, _ = timed(prob.train, left, right)
        _, predict_s, _ = timed(prob.predict, left, right, model, out)
        links = pq.read_table(out, columns=["left_id", "right_id"])
    return {"train_s": train_s, "predict_s": predict_s, "total_s": train_s + predict_s,
            **f1(links, left_truth, right_truth)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="100k persons, no Splink baseline")
    parser.add_argument("--persons", type=int, default=None, help="synthetic persons (default 2,000,000)")
    parser.add_argument("--synth", type=Path, default=None, help="reuse this accord synth output (dvla, hmrc)")
    parser.add_argument("--skip-splink", action="store_true", help="no Splink baseline for the 1M x 1M link")
    parser.add_argument("--skip-kernels", action="store_true", help="no Dice kernel measurements")
    parser.add_argument("--out", type=Path, default=None, help="results file (default bench/results/pprl-DATE.json)")
    args = parser.parse_args()
    persons = args.persons or (100_000 if args.quick else 2_000_000)
    started = datetime.now(UTC)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                            check=False).stdout.strip()
    import duckdb

    results: dict = {"benchmark": "pprl", "date": started.isoformat(timespec="seconds"), "commit": commit,
                     "machine": describe(numpy=np.__version__, pyarrow=pa.__version__, duckdb=duckdb.__version__),
                     "note": "shared machine: compare each figure with its baseline from the same run"}
    rng = np.random.default_rng(20171)
    if not args.skip_kernels:
        say("Dice kernels (one thread; comparisons per CPU second, so per core whatever else the machine runs):")
        results["dice"] = dice_kernels(rng, args.quick)

    with tempfile.TemporaryDirectory(prefix="accord-bench-pprl-") as tmp:
        synth = args.synth
        if synth is None:
            synth = Path(tmp) / "synth"
            say(f"\ngenerating {persons:,} synthetic persons (dvla, hmrc) ...")
            _, wall, _ = timed(make_synth, persons, synth)
            say(f"  {wall:.0f} s")
        left, left_truth = standardised(synth, LEFT)
        right, right_truth = standardised(synth, RIGHT)
        say(f"\n{LEFT}: {left.num_rows:,} rows; {RIGHT}: {right.num_rows:,} rows")
        key = pprl.derive_agreement_key(SECRET, "bench-agreement")

        left_enc, left_wall, left_cpu = timed(pprl.encode_table, left, key)
        right_enc, right_wall, right_cpu = timed(pprl.encode_table, right, key)
        sample = left.slice(0, 5_000 if args.quick else 20_000)
        _, python_wall, _ = timed(python_encoder, sample, key)
        per_record_python = python_wall / sample.num_rows
        results["encoding"] = {
            "left_rows": left.num_rows, "left_s": left_wall, "left_cpu_s": left_cpu,
            "right_rows": right.num_rows, "right_s": right_wall, "right_cpu_s": right_cpu,
            "records_per_s": (left.num_rows + right.num_rows) / (left_wall + right_wall),
            "baseline_python_per_record_records_per_s": 1 / per_record_python,
            "baseline_python_sample_rows": sample.num_rows,
            "baseline_python_extrapolated_left_s": per_record_python * left.num_rows,
        }
        say(f"encode: {left.num_rows:,} rows in {left_wall:.1f} s (cpu {left_cpu:.1f} s), {right.num_rows:,} in "
            f"{right_wall:.1f} s; baseline per-record Python encoder {1 / per_record_python:,.0f} records/s "
            f"(would take {per_record_python * left.num_rows:.0f} s for {left.num_rows:,})")

        links, link_wall, link_cpu = timed(pprl.link_encoded, left_enc, right_enc)
        model = json.loads(links.schema.metadata[pprl.MODEL_METADATA_KEY])
        quality = f1(links, left_truth, right_truth)
        results["link"] = {"left_rows": left.num_rows, "right_rows": right.num_rows, "s": link_wall,
                           "cpu_s": link_cpu, "candidates": model["candidates"], "peak_rss_gb": peak_rss_gb(),
                           **quality}
        say(f"link_encoded: {link_wall:.1f} s (cpu {link_cpu:.1f} s), {model['candidates']:,} candidate pairs, "
            f"precision {quality['precision']:.4f} recall {quality['recall']:.4f} F1 {quality['f1']:.4f}; "
            f"peak RSS so far {peak_rss_gb():.1f} GB")
        if not (args.quick or args.skip_splink):
            say("baseline: Splink (accord.linkage.probabilistic, DuckDB) train + predict on the plaintext ...")
            baseline = splink_baseline(left, right, left_truth, right_truth)
            results["link"]["baseline_splink"] = baseline
            pprl_total = left_wall + right_wall + link_wall
            results["link"]["pprl_encode_and_link_s"] = pprl_total
            results["link"]["ratio_to_splink"] = pprl_total / baseline["total_s"]
            say(f"  Splink: train {baseline['train_s']:.1f} s + predict {baseline['predict_s']:.1f} s, "
                f"F1 {baseline['f1']:.4f}; PPRL encode both + link = {pprl_total:.1f} s "
                f"({pprl_total / baseline['total_s']:.2f}x)")
    results["finished"] = datetime.now(UTC).isoformat(timespec="seconds")
    results["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    out = args.out or RESULTS / f"pprl-{started.date()}{'-quick' if args.quick else ''}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    say(f"\nwrote {out.relative_to(ROOT) if out.is_relative_to(ROOT) else out}")


if __name__ == "__main__":
    main()
