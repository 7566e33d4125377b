"""`accord synth`: a synthetic population and every body's view of it, with the ground truth apart."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from accord.cli.common import console, err

# Listed here so that `accord --help` does not import NumPy and pyarrow; a test checks it matches.
BODIES = "dwp,hmrc,gro,council-tax,electoral,energy,dvla,early-help,schools,police,health,debts"


def synth(
    persons: Annotated[int, typer.Option("--persons", help="Number of people to generate")],
    out: Annotated[Path, typer.Option("--out", help="Directory to write (must be new or empty)")],
    seed: Annotated[int, typer.Option("--seed", help="Random seed: the same seed gives the same files")] = 1,
    bodies: Annotated[
        str | None, typer.Option("--bodies", help=f"Comma-separated bodies (default all: {BODIES})")
    ] = None,
    csv: Annotated[bool, typer.Option("--csv", help="Also write each body's view as CSV")] = False,
    noise: Annotated[Path | None, typer.Option("--noise", help="YAML file of noise rates per body")] = None,
    chunk_size: Annotated[
        int, typer.Option("--chunk-size", help="Persons generated before writing out (bounds memory)")
    ] = 100_000,
    workers: Annotated[int | None, typer.Option("--workers", help="Worker processes (default: up to 2)")] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace OUT if it is not empty")] = False,
) -> None:
    """Generate synthetic people and each body's records about them, with the ground truth kept apart."""
    from accord.synth import generate  # imported here: NumPy and pyarrow load only for this command

    started = time.perf_counter()
    with Progress(
        TextColumn("synth"), BarColumn(), MofNCompleteColumn(), TextColumn("persons"), TimeElapsedColumn(),
        console=err, transient=True, disable=not err.is_terminal,
    ) as bar:
        task = bar.add_task("persons", total=max(persons, 1))

        def progress(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        manifest = generate(
            persons=persons, seed=seed, out=out, bodies=bodies, noise=noise, csv=csv, chunk_size=chunk_size,
            workers=workers, overwrite=overwrite, progress=progress,
        )
    elapsed = time.perf_counter() - started
    console.print(
        f"wrote {len(manifest.datasets)} datasets ({manifest.total_rows:,} records) about {manifest.persons:,} "
        f"people to {out} in {elapsed:.1f} s",
        highlight=False, soft_wrap=True,
    )
    console.print(f"ground truth: {out / 'truth'} (the answer key: never share it)", highlight=False, soft_wrap=True)
