"""Linkage benchmark: Accord's probabilistic linkage against raw Splink, 1M x 1M records, 2 cores.

Run on demand, never as a test:

    .venv/bin/python bench/linkage.py                  # 1M x 1M (about 2.2M persons): all configurations
    .venv/bin/python bench/linkage.py --quick          # 100k persons, a smoke run (< 2 minutes)
    .venv/bin/python bench/linkage.py --only accord-predict,accord-chunked
    .venv/bin/python bench/linkage.py --large 22000000 # also the chunked 10M x 10M prediction

The data: HMRC's PAYE employments against DVLA's drivers from `accord synth`
(2.2M persons gives about 1.05M and 1.18M records), cached under
var/bench/linkage/ (not in git). The truth files' person_id scores every run:
pairwise precision, recall and F1 over all pairs of records about one person.

Configurations, each in its own process so that peak memory is its own
(VmHWM from /proc/self/status, the resident high-water mark, which includes
DuckDB's memory since it runs in the process):

* ``splink-raw``: the baseline. A plain Splink 5 pipeline on DuckDB as its
  documentation teaches it, on the files as they are: NameComparison for the
  names, DateOfBirthComparison, PostcodeComparison, an exact match on the
  address, term frequencies on names; prior from a deterministic rule, u from
  1e7 random pairs, EM blocked on date of birth and on first name + surname;
  predictions blocked on four typical rules; threshold 0.5. DuckDB's memory
  is capped at 8 GB (spilling beyond it), as Accord's is at 6 GB: this is a
  shared machine, and uncapped the baseline grew past 15 GB.
* ``accord-train-predict``: what `accord link` does with no stored model:
  read and standardise both files, train, predict, write (threshold 0.5).
* ``accord-predict``: the same with the model stored by the previous run:
  read, standardise, predict, write.
* ``accord-chunked``: predict with the stored model in 4 x 4 chunks (the
  10M x 10M mode), to show it finds the same pairs in bounded memory.
* ``pprl``: Bloom-filter linkage through accord.linkage.pprl: encode both
  sides with a random key, link on the encodings. Compared with
  accord-train-predict (plaintext) for time and F1.

Targets (issue 5): accord-train-predict wall time <= splink-raw's and peak
memory <= 8 GB with F1 >= splink-raw's; accord-predict <= 30 s; pprl <= 2x
the plaintext time and F1 within 0.01. Results go to
bench/results/linkage-<date>[-quick].json; docs/performance.md summarises them.
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

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
from machine import describe, repo_path  # noqa: E402 - bench/machine.py, beside this script

RESULTS = ROOT / "bench" / "results"
DATA = ROOT / "var" / "bench" / "linkage"
SEED = 2026
LEFT, RIGHT = "hmrc-paye", "dvla-drivers"
MAP = "dob=date_of_birth,address=address_line_1"
THRESHOLD = 0.5
RAW_MEMORY_LIMIT = "8GB"
CONFIGS = ("accord-train-predict", "accord-predict", "accord-chunked", "pprl", "splink-raw")


def say(message: str = "") -> None:
    print(message, flush=True)


def peak_rss_gb() -> float:
    """This process's resident-set high-water mark (VmHWM), in GB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024 / 1024, 2)
    return float("nan")


def synth_dir(persons: int) -> Path:
    return DATA / f"synth-{persons // 1000}k"


def ensure_data(persons: int) -> Path:
    out = synth_dir(persons)
    if (out / "manifest.json").is_file() and (out / f"{LEFT}.parquet").is_file():
        return out
    from accord.synth import generate

    say(f"generating {persons:,} persons into {out} (cached for later runs)")
    started = time.perf_counter()
    out.parent.mkdir(parents=True, exist_ok=True)  # a fresh checkout has no var/bench yet
    generate(persons=persons, seed=SEED, out=out, bodies="hmrc,dvla", workers=2, overwrite=True)
    say(f"  generated in {time.perf_counter() - started:.0f} s")
    return out


# --------------------------------------------------------------------------- the configurations (child processes)


def run_splink_raw(synth: Path, work: Path) -> dict:
    import duckdb
    import splink.comparison_library as cl
    from splink import DuckDBAPI, Linker, SettingsCreator, block_on

    started = time.perf_counter()
    con = duckdb.connect()
    # Capped like Accord's engine (which uses 6 GB): uncapped, DuckDB may take 80% of the machine's memory,
    # and on this shared 24 GB machine the first 1M run grew past 15 GB in EM before it was stopped.
    spill = work / "tmp-raw"
    spill.mkdir(exist_ok=True)
    con.execute(f"SET memory_limit = '{RAW_MEMORY_LIMIT}'").fetchall()
    con.execute(f"SET temp_directory = '{spill}'").fetchall()
    columns = "record_id, first_name, surname, date_of_birth, postcode, address_line_1"
    for name, dataset in (("l", LEFT), ("r", RIGHT)):
        con.execute(f"CREATE TABLE {name} AS SELECT {columns} FROM read_parquet('{synth / dataset}.parquet')")
    db_api = DuckDBAPI(connection=con)
    settings = SettingsCreator(
        link_type="link_only",
        unique_id_column_name="record_id",
        comparisons=[
            cl.NameComparison("first_name").configure(term_frequency_adjustments=True),
            cl.NameComparison("surname").configure(term_frequency_adjustments=True),
            cl.DateOfBirthComparison("date_of_birth", input_is_string=False),
            cl.PostcodeComparison("postcode"),
            cl.ExactMatch("address_line_1"),
        ],
        blocking_rules_to_generate_predictions=[
            block_on("first_name", "surname"),
            block_on("surname", "date_of_birth"),
            block_on("first_name", "date_of_birth"),
            block_on("postcode", "first_name"),
        ],
    )
    frames = [db_api.register("l", dataset_display_name="left_body"),
              db_api.register("r", dataset_display_name="right_body")]
    linker = Linker(frames, settings, log_level=None)
    linker.training.estimate_probability_two_random_records_match(
        [block_on("first_name", "surname", "date_of_birth")], recall=0.7)
    linker.training.estimate_u_using_random_sampling(max_pairs=1e7, seed=1)
    linker.training.estimate_parameters_using_expectation_maximisation(block_on("date_of_birth"))
    linker.training.estimate_parameters_using_expectation_maximisation(block_on("first_name", "surname"))
    trained = time.perf_counter()
    predictions = linker.inference.predict(threshold_match_probability=THRESHOLD)
    out = work / "splink-raw.parquet"
    con.execute(f"""COPY (SELECT CASE WHEN source_dataset_l = 'left_body' THEN record_id_l ELSE record_id_r END AS left_id,
                                 CASE WHEN source_dataset_l = 'left_body' THEN record_id_r ELSE record_id_l END AS right_id,
                                 match_probability FROM {predictions.physical_name}) TO '{out}' (FORMAT PARQUET)""")
    done = time.perf_counter()
    return {"seconds": round(done - started, 1), "train_seconds": round(trained - started, 1),
            "predict_seconds": round(done - trained, 1), "out": str(out)}


def _prepare(synth: Path) -> tuple:
    from accord.linkage.prepare import prepare_file

    left = prepare_file(synth / f"{LEFT}.parquet", MAP, source="LEFT")
    right = prepare_file(synth / f"{RIGHT}.parquet", MAP, source="RIGHT")
    return left.table, right.table


def run_accord(synth: Path, work: Path, *, train: bool, chunks: int = 1) -> dict:
    from accord.linkage import probabilistic as prob

    model_path = work / "accord-model.json"
    started = time.perf_counter()
    left, right = _prepare(synth)
    prepared = time.perf_counter()
    if train:
        model = prob.train(left, right)
        model.save(model_path)
    else:
        model = prob.LinkageModel.load(model_path)
    trained = time.perf_counter()
    name = "accord-train-predict" if train else ("accord-chunked" if chunks > 1 else "accord-predict")
    result = prob.predict(left, right, model, work / f"{name}.parquet", threshold=THRESHOLD, chunks=chunks)
    done = time.perf_counter()
    return {"seconds": round(done - started, 1), "prepare_seconds": round(prepared - started, 1),
            "train_seconds": round(trained - prepared, 1), "predict_seconds": round(done - trained, 1),
            "out": str(result.out), "left_rows": left.num_rows, "right_rows": right.num_rows}


def run_pprl(synth: Path, work: Path) -> dict:
    import secrets

    import pyarrow.parquet as pq

    from accord.linkage import pprl

    started = time.perf_counter()
    left, right = _prepare(synth)
    prepared = time.perf_counter()
    key = secrets.token_bytes(32)
    left_enc, right_enc = pprl.encode_table(left, key), pprl.encode_table(right, key)
    encoded = time.perf_counter()
    result = pprl.link_encoded(left_enc, right_enc, threshold=THRESHOLD)
    out = work / "pprl.parquet"
    pq.write_table(result.select(["left_id", "right_id", "match_probability"]), out)
    done = time.perf_counter()
    return {"seconds": round(done - started, 1), "prepare_seconds": round(prepared - started, 1),
            "encode_seconds": round(encoded - prepared, 1), "link_seconds": round(done - encoded, 1),
            "out": str(out)}


def child(config: str, synth: Path, work: Path) -> None:
    if config == "splink-raw":
        result = run_splink_raw(synth, work)
    elif config == "accord-train-predict":
        result = run_accord(synth, work, train=True)
    elif config == "accord-predict":
        result = run_accord(synth, work, train=False)
    elif config.startswith("accord-chunked"):
        result = run_accord(synth, work, train=False, chunks=int(config.rsplit("-", 1)[-1]) if config[-1].isdigit()
                            else 4)
    elif config == "pprl":
        result = run_pprl(synth, work)
    else:
        raise SystemExit(f"unknown configuration {config}")
    result["peak_rss_gb"] = peak_rss_gb()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    result["cpu_seconds"] = round(usage.ru_utime + usage.ru_stime, 1)
    print("RESULT " + json.dumps(result), flush=True)


# --------------------------------------------------------------------------- the parent


def score(out: Path, synth: Path) -> dict:
    import duckdb

    con = duckdb.connect()
    con.execute(f"CREATE TABLE tl AS SELECT record_id, person_id FROM read_parquet('{synth}/truth/{LEFT}.parquet')")
    con.execute(f"CREATE TABLE tr AS SELECT record_id, person_id FROM read_parquet('{synth}/truth/{RIGHT}.parquet')")
    true_pairs = con.execute("SELECT count(*) FROM tl JOIN tr USING (person_id)").fetchall()[0][0]
    correct, linked = con.execute(f"""
        SELECT count(*) FILTER (WHERE tl.person_id = tr.person_id), count(*)
        FROM read_parquet('{out}') o JOIN tl ON tl.record_id = o.left_id JOIN tr ON tr.record_id = o.right_id
    """).fetchall()[0]
    precision = correct / linked if linked else 0.0
    recall = correct / true_pairs if true_pairs else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"pairs": linked, "true_pairs": true_pairs, "precision": round(precision, 4),
            "recall": round(recall, 4), "f1": round(f1, 4)}


def run_child(config: str, synth: Path, work: Path, timeout: float) -> dict:
    say(f"{config}: running")
    started = time.perf_counter()
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    completed = subprocess.run(
        [sys.executable, __file__, "--child", config, "--synth", str(synth), "--work", str(work)],
        capture_output=True, text=True, timeout=timeout, env=env, check=False,
    )
    lines = [line for line in completed.stdout.splitlines() if line.startswith("RESULT ")]
    if completed.returncode != 0 or not lines:
        say(f"{config}: FAILED (exit {completed.returncode})\n{completed.stderr[-3000:]}")
        return {"failed": True, "exit": completed.returncode, "stderr_tail": completed.stderr[-1500:]}
    result = json.loads(lines[-1][len("RESULT "):])
    result["process_seconds"] = round(time.perf_counter() - started, 1)
    result.update(score(Path(result["out"]), synth))
    result["out"] = repo_path(result["out"])  # recorded relative to the repository
    say(f"{config}: {result['seconds']} s (cpu {result['cpu_seconds']} s), peak {result['peak_rss_gb']} GB, "
        f"F1 {result['f1']} "
        f"(P {result['precision']}, R {result['recall']}, {result['pairs']:,} pairs)")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--persons", type=int, default=2_200_000)
    parser.add_argument("--quick", action="store_true", help="100k persons: a smoke run")
    parser.add_argument("--only", help=f"comma-separated configurations ({', '.join(CONFIGS)})")
    parser.add_argument("--large", type=int, default=0, help="persons for a chunked 10M x 10M prediction (0: skip)")
    parser.add_argument("--large-chunks", type=int, default=8)
    parser.add_argument("--timeout", type=float, default=7200)
    parser.add_argument("--results", type=Path, help="results file (default bench/results/linkage-<date>.json)")
    parser.add_argument("--child")
    parser.add_argument("--synth", type=Path)
    parser.add_argument("--work", type=Path)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.synth, args.work)
        return

    persons = 100_000 if args.quick else args.persons
    configs = args.only.split(",") if args.only else list(CONFIGS)
    import duckdb
    import pyarrow
    import splink

    report: dict = {
        "benchmark": "linkage",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": describe(splink=splink.__version__, duckdb=duckdb.__version__, pyarrow=pyarrow.__version__),
        "persons": persons,
        "threshold": THRESHOLD,
        "results": {},
    }
    synth = ensure_data(persons)
    work = DATA / f"work-{persons // 1000}k"
    work.mkdir(parents=True, exist_ok=True)
    manifest = json.loads((synth / "manifest.json").read_text())
    report["rows"] = {name: manifest["datasets"][name]["rows"] for name in (LEFT, RIGHT)}
    say(f"{LEFT}: {report['rows'][LEFT]:,} records; {RIGHT}: {report['rows'][RIGHT]:,} records")
    for config in configs:
        if config == "accord-chunked":
            config_name = "accord-chunked-4"
        else:
            config_name = config
        if config in ("accord-predict", "accord-chunked") and not (work / "accord-model.json").is_file():
            say(f"{config}: skipped (no stored model: run accord-train-predict first)")
            continue
        if config == "pprl" and importlib_missing("accord.linkage.pprl"):
            say("pprl: skipped (accord.linkage.pprl is not there)")
            continue
        report["results"][config] = run_child(config_name, synth, work, args.timeout)
    if args.large:
        report["large"] = run_large(args.large, args.large_chunks, work, args.timeout)
    report["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    summarise(report)
    RESULTS.mkdir(parents=True, exist_ok=True)
    date = datetime.now(UTC).date().isoformat()
    path = args.results or RESULTS / f"linkage-{date}{'-quick' if args.quick else ''}.json"
    path.write_text(json.dumps(report, indent=2) + "\n")
    say(f"wrote {path}")


def importlib_missing(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is None


def run_large(persons: int, chunks: int, model_work: Path, timeout: float) -> dict:
    """Predict 10M x 10M in chunks with the model trained on the 1M data."""
    synth = ensure_data(persons)
    work = DATA / f"work-{persons // 1000}k"
    work.mkdir(parents=True, exist_ok=True)
    model = model_work / "accord-model.json"
    if not model.is_file():
        return {"skipped": "no stored model from the 1M run"}
    shutil.copy(model, work / "accord-model.json")
    manifest = json.loads((synth / "manifest.json").read_text())
    result = run_child(f"accord-chunked-{chunks}", synth, work, timeout)
    result["rows"] = {name: manifest["datasets"][name]["rows"] for name in (LEFT, RIGHT)}
    result["chunks"] = chunks
    return result


def summarise(report: dict) -> None:
    results = report["results"]
    raw, accord, predict = results.get("splink-raw"), results.get("accord-train-predict"), results.get("accord-predict")
    checks = {}
    if raw and accord and not raw.get("failed") and not accord.get("failed"):
        checks["wall_time_le_raw_splink"] = accord["seconds"] <= raw["seconds"]
        checks["speedup_vs_raw_splink"] = round(raw["seconds"] / accord["seconds"], 2)
        checks["f1_ge_raw_splink"] = accord["f1"] >= raw["f1"]
    if accord and not accord.get("failed"):
        checks["peak_memory_le_8gb"] = accord["peak_rss_gb"] <= 8
    if predict and not predict.get("failed"):
        checks["predict_only_le_30s"] = predict["seconds"] <= 30
    pprl = results.get("pprl")
    if pprl and accord and not pprl.get("failed") and not accord.get("failed"):
        checks["pprl_time_ratio"] = round(pprl["seconds"] / accord["seconds"], 2)
        checks["pprl_le_2x_plaintext"] = pprl["seconds"] <= 2 * accord["seconds"]
        checks["pprl_f1_within_0.01"] = abs(pprl["f1"] - accord["f1"]) <= 0.01
    report["checks"] = checks
    say(json.dumps(checks, indent=2))


if __name__ == "__main__":
    main()
