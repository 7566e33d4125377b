"""Generate a synthetic population and every body's view of it, streaming to disk.

Output layout (OUT is written as OUT.tmp-* beside it and renamed at the end, so
a failed run leaves nothing behind):

    OUT/manifest.json                 seed, persons, period, noise, row counts, sha256 of every file
    OUT/<dataset>.parquet             one file per body's dataset (and <dataset>.csv with csv=True)
    OUT/truth/<dataset>.parquet       record_id -> person_id, household_id and the noise applied
    OUT/truth/population/*.parquet    persons, households, addresses, events: the population itself

Everything under truth/ is the answer key: never hand it to a system under test.

Determinism: the same seed, persons, bodies and noise give byte-identical files,
whatever the chunk size or number of worker processes. Randomness is drawn per
block of 20,000 persons (population.BLOCK) and per body, so the block size is
part of the contract, and choosing fewer bodies does not change the others.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from accord.errors import InvalidInput
from accord.synth import geography as geo
from accord.synth.noise import BODY_KEYS, BodyNoise, load_noise_file, noise_as_dict, noise_from_mapping
from accord.synth.output import TableWriter, sha256
from accord.synth.population import BLOCK, PERIOD_END, PERIOD_START, World, generate_block, population_tables
from accord.synth.views import DATASETS, TRUTH_SCHEMA, build_body

FORMAT_VERSION = 1
MAX_PERSONS = 1_000_000_000
POPULATION_TABLES = ("persons", "households", "addresses", "events")


@dataclass
class FileInfo:
    path: str
    rows: int
    sha256: str


@dataclass
class DatasetInfo:
    name: str
    body: str
    description: str
    rows: int
    file: FileInfo
    truth: FileInfo
    csv: FileInfo | None = None


@dataclass
class Manifest:
    seed: int
    persons: int
    format_version: int
    accord_version: str
    period_start: str
    period_end: str
    block_size: int
    bodies: list[str]
    datasets: dict[str, DatasetInfo] = field(default_factory=dict)
    population: dict[str, FileInfo] = field(default_factory=dict)
    noise: dict[str, dict[str, float]] = field(default_factory=dict)
    councils: dict[str, str] = field(default_factory=dict)
    suppliers: list[str] = field(default_factory=list)
    out: str = ""

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("out")
        return data

    @property
    def total_rows(self) -> int:
        return sum(d.rows for d in self.datasets.values())


def parse_bodies(bodies: str | Iterable[str] | None) -> list[str]:
    if bodies is None:
        return list(BODY_KEYS)
    items = [b.strip() for b in bodies.split(",")] if isinstance(bodies, str) else [str(b).strip() for b in bodies]
    items = [b for b in items if b]
    if not items:
        raise InvalidInput("no bodies given (known: " + ", ".join(BODY_KEYS) + ")")
    unknown = [b for b in items if b not in BODY_KEYS]
    if unknown:
        raise InvalidInput(f"unknown body '{unknown[0]}' (known: {', '.join(BODY_KEYS)})")
    return [b for b in BODY_KEYS if b in items]  # canonical order


def _check_int(name: str, value: Any, low: int, high: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInput(f"{name} must be a whole number, got {value!r}")
    if value < low or (high is not None and value > high):
        limit = f"between {low:,} and {high:,}" if high is not None else f"at least {low:,}"
        raise InvalidInput(f"{name} must be {limit}, got {value:,}")
    return value


def _resolve_noise(noise: Any) -> dict[str, BodyNoise]:
    if noise is None:
        return noise_from_mapping(None)
    if isinstance(noise, (str, Path)):
        return load_noise_file(Path(noise))
    if isinstance(noise, dict) and all(isinstance(v, BodyNoise) for v in noise.values()):
        merged = noise_from_mapping(None)
        unknown = [k for k in noise if k not in BODY_KEYS]
        if unknown:
            raise InvalidInput(f"noise settings: unknown body '{unknown[0]}' (known: {', '.join(BODY_KEYS)})")
        merged.update(noise)
        return merged
    return noise_from_mapping(noise)


def _prepare_out(out: Path, overwrite: bool) -> Path:
    """Check OUT can be written and create the temporary directory beside it."""
    out = Path(out).expanduser()
    if out.exists() and not out.is_dir():
        raise InvalidInput(f"{out}: exists and is not a directory")
    if out.exists() and any(out.iterdir()) and not overwrite:
        raise InvalidInput(f"{out}: directory is not empty (choose a new directory, or overwrite)")
    parent = out.absolute().parent
    if not parent.is_dir():
        raise InvalidInput(f"{out}: parent directory {parent} does not exist")
    try:
        tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=parent))
        tmp.chmod(0o755)  # mkdtemp makes it private; the output is an ordinary directory
    except OSError as exc:
        raise InvalidInput(f"{out}: cannot write in {parent} ({exc.strerror})") from None
    return tmp


def _blocks(persons: int) -> list[tuple[int, int]]:
    return [(i, min(BLOCK, persons - i * BLOCK)) for i in range((persons + BLOCK - 1) // BLOCK)]


def _work(args: tuple[int, int, int, list[str], dict[str, BodyNoise]]) -> tuple[int, int, dict[str, pa.Table],
                                                                               dict[str, pa.Table], dict[str, pa.Table]]:
    """One block: the population tables and every chosen body's rows (run in a worker process)."""
    seed, block, n, bodies, noise = args
    world = _world(seed)
    b = generate_block(world, block, n)
    views: dict[str, list[pa.Table]] = {}
    truths: dict[str, list[pa.Table]] = {}
    for body in bodies:
        for p in build_body(seed, b, body, noise[body]):
            views.setdefault(p.dataset, []).append(p.table)
            truths.setdefault(p.dataset, []).append(p.truth)
    return (block, n, population_tables(b),
            {k: pa.concat_tables(v) for k, v in views.items()}, {k: pa.concat_tables(v) for k, v in truths.items()})


_WORLDS: dict[int, World] = {}


def _world(seed: int) -> World:
    world = _WORLDS.get(seed)
    if world is None:
        _WORLDS.clear()
        world = _WORLDS[seed] = World.create(seed)
    return world


def _results(tasks: list[tuple], workers: int, chunk_blocks: int) -> Iterator[tuple]:
    """Block results in block order, at most ``chunk_blocks`` in flight (bounded memory)."""
    if workers <= 1:
        for task in tasks:
            yield _work(task)
        return
    with ProcessPoolExecutor(max_workers=workers) as pool:
        pending = []
        it = iter(tasks)
        for task in it:
            pending.append(pool.submit(_work, task))
            if len(pending) >= chunk_blocks:
                break
        while pending:
            done = pending.pop(0)
            nxt = next(it, None)
            if nxt is not None:
                pending.append(pool.submit(_work, nxt))
            yield done.result()


def generate(
    persons: int,
    seed: int,
    out: str | Path,
    bodies: str | Iterable[str] | None = None,
    noise: Any = None,
    csv: bool = False,
    chunk_size: int | None = None,
    workers: int | None = None,
    overwrite: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> Manifest:
    """Generate ``persons`` people and every chosen body's view into ``out``; return the manifest.

    ``noise`` is None (the defaults), a mapping {body: {setting: rate}}, a mapping
    {body: BodyNoise}, or the path of a YAML file. ``chunk_size`` (persons
    generated before rows are written out; rounded up to whole blocks) bounds
    memory without changing the output. ``workers`` is the number of processes
    (default: up to 2, as the CPUs allow). ``progress(done, total)`` is called
    as persons are written.
    """
    persons = _check_int("persons", persons, 1, MAX_PERSONS)
    seed = _check_int("seed", seed, 0, 2**63 - 1)
    chunk_size = _check_int("chunk size", chunk_size if chunk_size is not None else 100_000, 1)
    workers = _check_int("workers", workers if workers is not None else min(2, os.cpu_count() or 1), 1, 64)
    chosen = parse_bodies(bodies)
    settings = _resolve_noise(noise)
    out = Path(out)
    tmp = _prepare_out(out, overwrite)
    try:
        manifest = _run(persons, seed, tmp, chosen, settings, csv, chunk_size, workers, progress)
        _publish(tmp, out, overwrite)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    manifest.out = str(out)
    return manifest


def _publish(tmp: Path, out: Path, overwrite: bool) -> None:
    if out.exists():
        if not overwrite and any(out.iterdir()):
            raise InvalidInput(f"{out}: directory was filled while generating")
        trash = out.with_name(f".{out.name}.old-{uuid.uuid4().hex[:8]}")
        out.rename(trash)
        tmp.rename(out)
        shutil.rmtree(trash, ignore_errors=True)
    else:
        tmp.rename(out)


def _run(persons: int, seed: int, tmp: Path, bodies: list[str], noise: dict[str, BodyNoise], csv: bool,
         chunk_size: int, workers: int, progress: Callable[[int, int], None] | None) -> Manifest:
    truth_dir = tmp / "truth"
    pop_dir = truth_dir / "population"
    pop_dir.mkdir(parents=True)
    datasets = [d for d in DATASETS if d.body in bodies]
    writers: dict[str, TableWriter] = {}
    truth_writers: dict[str, TableWriter] = {}
    for d in datasets:
        for name in d.files():
            writers[name] = TableWriter(tmp / f"{name}.parquet", (tmp / f"{name}.csv") if csv else None)
            truth_writers[name] = TableWriter(truth_dir / f"{name}.parquet")
    pop_writers = {name: TableWriter(pop_dir / f"{name}.parquet") for name in POPULATION_TABLES}
    schemas: dict[str, pa.Schema] = {}

    tasks = [(seed, block, n, bodies, noise) for block, n in _blocks(persons)]
    chunk_blocks = max(1, -(-chunk_size // BLOCK))
    _world(seed)  # build once in this process (workers build their own)
    done = 0
    for _block, n, pop, views, truths in _results(tasks, workers, max(chunk_blocks, workers)):
        for name, table in pop.items():
            pop_writers[name].write(table)
        for d in datasets:
            table, truth = views[d.name], truths[d.name]
            if d.partition is None:
                writers[d.name].write(table)
                truth_writers[d.name].write(truth)
                schemas.setdefault(d.name, table.schema)
                continue
            keys = table.column(d.partition)
            for value in d.partition_values():
                mask = pc.equal(keys, value)
                name = d.file_for(value)
                writers[name].write(table.filter(mask))
                truth_writers[name].write(truth.filter(mask))
                schemas.setdefault(name, table.schema)
        done += n
        if progress is not None:
            progress(done, persons)

    manifest = Manifest(
        seed=seed, persons=persons, format_version=FORMAT_VERSION, accord_version=_accord_version(),
        period_start=str(PERIOD_START), period_end=str(PERIOD_END), block_size=BLOCK, bodies=bodies,
        noise={b: v for b, v in noise_as_dict(noise).items() if b in bodies},
        councils={c: geo.COUNCILS[c]["name"] for c in geo.COUNCIL_IDS}, suppliers=list(geo.SUPPLIER_IDS),
    )
    for name, writer in pop_writers.items():
        writer.close()
        manifest.population[name] = FileInfo(_rel(writer.path, tmp), writer.rows, sha256(writer.path))
    for d in datasets:
        for name in d.files():
            writer, twriter = writers[name], truth_writers[name]
            writer.close(schemas.get(name))
            twriter.close(TRUTH_SCHEMA)
            manifest.datasets[name] = DatasetInfo(
                name=name, body=d.body, description=d.description, rows=writer.rows,
                file=FileInfo(_rel(writer.path, tmp), writer.rows, sha256(writer.path)),
                truth=FileInfo(_rel(twriter.path, tmp), twriter.rows, sha256(twriter.path)),
                csv=FileInfo(_rel(writer.csv_path, tmp), writer.rows, sha256(writer.csv_path)) if csv else None,
            )
    (tmp / "manifest.json").write_text(json.dumps(manifest.to_json(), indent=2) + "\n", encoding="utf-8")
    return manifest


def _rel(path: Path, root: Path) -> str:
    return path.relative_to(root).as_posix()


def _accord_version() -> str:
    try:
        from importlib.metadata import version

        return version("accord")
    except Exception:  # noqa: BLE001 - not installed (running from a checkout)
        return "unknown"
