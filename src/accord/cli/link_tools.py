"""`accord link evaluate` and `accord link cluster`: subcommands of `accord link` (attached in cli/link.py).

Both read CSV or Parquet and refuse bad input (a missing or empty file, a
missing column, a bad value) with one line naming the file, row and column and
exit code 2, before anything is written. Outputs are written under temporary
names beside their destination and renamed into place only when all of them
are complete, so a failed run leaves nothing half-written.
"""

from __future__ import annotations

import functools
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.markup import escape

from accord.cli.common import console, err
from accord.errors import InvalidInput
from accord.services.linking import cluster_files, evaluate

F = TypeVar("F", bound=Callable[..., Any])
TABLE_SUFFIXES = (".csv", ".parquet", ".pq")
EVALUATE_THRESHOLD = 0.5  # accord.linkage.evaluate.DEFAULT_THRESHOLD (kept here so `accord --help` stays light)
CLUSTER_THRESHOLD = 0.9  # accord.linkage.clustering.DEFAULT_THRESHOLD


def one_line_errors(command: F) -> F:
    """Bad input as `accord` reports it wherever the command is mounted: one line on stderr, exit 2."""
    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except InvalidInput as exc:
            err.print(f"[red]error:[/red] {escape(str(exc))}", highlight=False, soft_wrap=True)
            raise typer.Exit(2) from None

    return wrapper  # type: ignore[return-value]


def _check_probability(value: float, option: str) -> None:
    if not 0.0 <= value <= 1.0:
        raise InvalidInput(f"{option} must be a probability between 0 and 1, not {value:g}")


def _check_output(path: Path, option: str) -> None:
    if path.suffix.lower() not in TABLE_SUFFIXES:
        raise InvalidInput(f"{option} {path}: should end in .csv or .parquet")
    if path.is_dir():
        raise InvalidInput(f"{option} {path}: is a directory")
    if not path.parent.exists():
        raise InvalidInput(f"{option} {path}: the directory {path.parent} does not exist")


def _write_staged(table: Any, path: Path) -> Path:
    """Write a table beside ``path`` under a temporary name (CSV or Parquet by ``path``'s extension)."""
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    handle, name = tempfile.mkstemp(prefix=f".{path.name}-", suffix=".tmp", dir=path.parent)
    os.close(handle)
    staged = Path(name)
    try:
        if path.suffix.lower() == ".csv":
            pacsv.write_csv(table, staged)
        else:
            pq.write_table(table, staged, compression="zstd")
        staged.chmod(0o644)
    except BaseException:
        staged.unlink(missing_ok=True)
        raise
    return staged


def _publish(staged: dict[Path, Path]) -> None:
    """Rename every staged file to its destination (all were written completely first)."""
    for destination, temporary in staged.items():
        os.replace(temporary, destination)


# --------------------------------------------------------------------------- evaluate


@one_line_errors
def evaluate_command(
    matches: Annotated[Path, typer.Argument(metavar="MATCHES", help="Linked pairs (CSV or Parquet): left_id, "
                                            "right_id, match_probability [, match_weight]", show_default=False)],
    truth_left: Annotated[Path, typer.Option("--truth-left", help="LEFT's truth: record id -> person id "
                                             "(record_id or id, person_id or cluster)", show_default=False)],
    truth_right: Annotated[Path, typer.Option("--truth-right", help="RIGHT's truth, likewise", show_default=False)],
    threshold: Annotated[float, typer.Option("--threshold", help="Pairs at or above this match_probability "
                                             "count as links")] = EVALUATE_THRESHOLD,
    report: Annotated[Path | None, typer.Option("--report", help="Directory for the PNG charts and HTML "
                                                "report (default: MATCHES-report beside MATCHES)",
                                                show_default=False)] = None,
) -> None:
    """Score linked pairs against the ground truth: precision, recall, F1, blocking recall, and a report."""
    _check_probability(threshold, "--threshold")
    directory = report if report is not None else matches.with_name(f"{matches.stem}-report")
    if directory.exists() and not directory.is_dir():
        raise InvalidInput(f"--report {directory}: exists and is not a directory")
    s, html = evaluate(matches, truth_left, truth_right, threshold, directory)

    def show(value: float) -> str:
        return "n/a" if value != value else f"{value:.4f}"

    console.print(f"threshold        {threshold:g}", highlight=False)
    console.print(f"precision        {show(s['precision'])}", highlight=False)
    console.print(f"recall           {show(s['recall'])}", highlight=False)
    console.print(f"F1               {show(s['f1'])}", highlight=False)
    console.print(f"blocking recall  {show(s['blocking_recall'])}", highlight=False)
    console.print(f"pairs: {s['predicted_pairs']:,} predicted, {s['true_positives']:,} true, "
                  f"{s['false_positives']:,} false; {s['true_pairs']:,} true pairs in the truth, "
                  f"{s['candidate_pairs']:,} candidate pairs in MATCHES", highlight=False, soft_wrap=True)
    console.print(f"report: {html}", highlight=False, soft_wrap=True)


# --------------------------------------------------------------------------- cluster


def _changes_path(out: Path) -> Path:
    return out.with_name(f"{out.stem}-changes{out.suffix}")


@one_line_errors
def cluster_command(
    pairs: Annotated[list[Path], typer.Argument(metavar="PAIRS...", help="Linked pairs files (CSV or Parquet): "
                                                "left_id, right_id, match_probability [, left_source, "
                                                "right_source]", show_default=False)],
    out: Annotated[Path, typer.Option("--out", metavar="KEYS", help="Person keys to write: source, record_id, "
                                      "person_key, key_created (.csv or .parquet)", show_default=False)],
    previous: Annotated[Path | None, typer.Option("--previous", metavar="KEYS", help="The previous run's KEYS: "
                                                  "keep its person keys", show_default=False)] = None,
    threshold: Annotated[float, typer.Option("--threshold", help="Pairs at or above this match_probability "
                                             "join their records")] = CLUSTER_THRESHOLD,
    changes: Annotated[Path | None, typer.Option("--changes", help="Where to write retired and split-off keys "
                                                 "(default: KEYS-changes beside KEYS)", show_default=False)] = None,
) -> None:
    """Group linked records into persons, with person keys kept from the previous run where they still fit."""
    _check_probability(threshold, "--threshold")
    _check_output(out, "--out")
    changes = changes if changes is not None else _changes_path(out)
    _check_output(changes, "--changes")
    if changes.resolve() == out.resolve():
        raise InvalidInput("--changes and --out name the same file")
    result = cluster_files(pairs, threshold=threshold, previous=previous)
    staged: dict[Path, Path] = {}
    try:
        staged[out] = _write_staged(result.assignments, out)
        staged[changes] = _write_staged(result.changes, changes)
        _publish(staged)
    finally:
        for temporary in staged.values():
            temporary.unlink(missing_ok=True)
    s = result.stats
    console.print(f"{s['records']:,} records from {len(pairs)} pairs file(s) ({s['links']:,} of {s['pairs']:,} "
                  f"pairs at or above {threshold:g}) are {s['persons']:,} persons", highlight=False, soft_wrap=True)
    if previous is not None:
        console.print(f"keys: {s['kept']:,} kept, {s['new']:,} new, {s['retired']:,} retired by a merge, "
                      f"{s['split']:,} split off", highlight=False, soft_wrap=True)
    console.print(f"wrote {out} and {changes}", highlight=False, soft_wrap=True)
