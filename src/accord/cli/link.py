"""`accord link`: link two bodies' files, deterministically, probabilistically (Splink) or on Bloom filters.

``accord link LEFT RIGHT --out OUT`` links; ``accord link evaluate ...`` (and
other tools in ``accord.cli.link_tools``) run as subcommands of the same
group. ``LinkGroup`` tells the two apart by the first argument: a known
subcommand name runs that subcommand, anything else is the linking command.

Bad input (a missing file or mapped column, an empty file, undecodable text, an
unreadable date column, a bad option) is one line on stderr and exit code 2,
raised before any output exists; the output is written under a temporary
name and renamed only when complete, so a failed run leaves no OUT file.
"""

from __future__ import annotations

import importlib.util
import os
import re
import secrets
import time
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from typer.core import TyperArgument, TyperGroup

from accord.cli.common import console, err, open_hub
from accord.errors import InvalidInput

if TYPE_CHECKING:
    import pyarrow as pa

    from accord.linkage.prepare import PreparedInput
    from accord.linkage.probabilistic import LinkageModel

MODES = ("deterministic", "probabilistic", "pprl")
ENGINES = ("duckdb", "spark")  # accord.linkage.engines.ENGINES; listed here so `accord --help` stays light
OUTPUT_SUFFIXES = (".csv", ".parquet")


_SUBCOMMAND_FORM = "accord.link.subcommand"
# Typer carries its own copy of Click; this is its Command class, whose parse_args parses a command's own
# parameters (Group.parse_args would also look for a subcommand).
_Command = next(base for base in TyperGroup.__mro__ if base.__name__ == "Command")


class LinkGroup(TyperGroup):
    """A group that is also a command: ``accord link LEFT RIGHT ...`` or ``accord link SUBCOMMAND ...``."""

    allow_interspersed_args = True  # options may follow LEFT and RIGHT, as for any command

    def parse_args(self, ctx: typer.Context, args: list[str]) -> list[str]:
        if args and args[0] in self.commands:
            # The subcommand form: this group's own (linking) parameters keep their defaults.
            no_args_is_help, self.no_args_is_help = self.no_args_is_help, False
            try:
                _Command.parse_args(self, ctx, [])
            finally:
                self.no_args_is_help = no_args_is_help
            ctx.meta[_SUBCOMMAND_FORM] = True
            ctx._protected_args, ctx.args = [args[0]], args[1:]
            return ctx.args
        return super().parse_args(ctx, args)

    def get_params(self, ctx: typer.Context) -> list[Any]:
        params = super().get_params(ctx)
        if ctx.meta.get(_SUBCOMMAND_FORM):
            # A subcommand's usage reads "accord link evaluate ...", not "accord link [LEFT] [RIGHT] evaluate".
            return [p for p in params if not isinstance(p, TyperArgument)]
        return params

    def format_usage(self, ctx: typer.Context, formatter: Any) -> None:
        formatter.write_usage(ctx.command_path, "LEFT RIGHT --out OUT [OPTIONS]")
        if self.commands:
            formatter.write_usage(ctx.command_path, "COMMAND [ARGS]...", prefix="       ")


app = typer.Typer(
    cls=LinkGroup,
    invoke_without_command=True,
    no_args_is_help=True,
    add_completion=False,
    help="Link two bodies' records: LEFT RIGHT --out OUT (or a subcommand: evaluate, cluster).",
)


def _attach_link_tools() -> None:
    """`accord link evaluate` and `accord link cluster` live in accord.cli.link_tools, when it exists."""
    if importlib.util.find_spec("accord.cli.link_tools") is None:
        return
    from accord.cli import link_tools

    for name, attribute in (("evaluate", "evaluate_command"), ("cluster", "cluster_command")):
        command = getattr(link_tools, attribute, None)
        if command is not None:
            app.command(name)(command)


@app.callback()
def link(
    ctx: typer.Context,
    left: Annotated[Path | None, typer.Argument(help="The first body's records (CSV or Parquet)",
                                                show_default=False)] = None,
    right: Annotated[Path | None, typer.Argument(help="The second body's records (CSV or Parquet)",
                                                 show_default=False)] = None,
    out: Annotated[Path | None, typer.Option("--out", help="Linked pairs to write: .csv or .parquet",
                                             show_default=False)] = None,
    mode: Annotated[str, typer.Option("--mode", help="deterministic, probabilistic or pprl")] = "probabilistic",
    engine: Annotated[str, typer.Option("--engine", help="Where Splink runs: duckdb or spark")] = "duckdb",
    left_id: Annotated[str | None, typer.Option("--left-id", help="LEFT's id column (default record_id, id, "
                                                "else the row number)", show_default=False)] = None,
    right_id: Annotated[str | None, typer.Option("--right-id", help="RIGHT's id column", show_default=False)] = None,
    left_map: Annotated[str | None, typer.Option("--left-map", help="LEFT's columns for standard fields: "
                                                 "field=column,...", show_default=False)] = None,
    right_map: Annotated[str | None, typer.Option("--right-map", help="RIGHT's columns: field=column,...",
                                                  show_default=False)] = None,
    threshold: Annotated[float | None, typer.Option("--threshold", help="Keep pairs with match_probability at "
                                                    "least this (default 0.5)", show_default=False)] = None,
    agreement: Annotated[str | None, typer.Option("--agreement", help="Link under this agreement: use its "
                                                  "stored model, or train and store one", show_default=False)] = None,
    model_file: Annotated[Path | None, typer.Option("--model", help="Model file: read if it exists, else "
                                                    "train and write it", show_default=False)] = None,
    retrain: Annotated[bool, typer.Option("--retrain", help="Train a new model even if one is stored")] = False,
    chunks: Annotated[int, typer.Option("--chunks", help="Score in N x N chunks of both sides (bounds memory)")] = 1,
    memory_limit: Annotated[str, typer.Option("--memory-limit", help="DuckDB's memory limit (spills beyond it)")
                            ] = "6GB",
    secret_file: Annotated[Path | None, typer.Option("--secret-file", help="pprl: the agreement's shared secret",
                                                     show_default=False)] = None,
    key_version: Annotated[int, typer.Option("--key-version", help="pprl: the key version")] = 1,
) -> None:
    """Link two bodies' records and write one row per linked pair: left_id, right_id, match_probability."""
    if ctx.invoked_subcommand is not None:
        return
    if left is None or right is None:
        raise InvalidInput("give two input files: accord link LEFT RIGHT --out OUT")
    if out is None:
        raise InvalidInput("give the output file: --out OUT (.csv or .parquet)")
    options = _check_options(out, mode, engine, threshold, chunks, model_file, agreement, secret_file,
                             key_version, retrain)
    if not re.fullmatch(r"\d+(\.\d+)?\s*(K|M|G|T|KB|MB|GB|TB|KiB|MiB|GiB|TiB)", memory_limit.strip()):
        raise InvalidInput(f"--memory-limit must be a size such as 6GB or 512MB, not '{memory_limit}'")
    options["memory_limit"] = memory_limit.strip()
    started = time.perf_counter()
    with _progress() as say:
        say("reading LEFT")
        left_input = _prepare_side(left, left_map, left_id, "LEFT", mode)
        say("reading RIGHT")
        right_input = _prepare_side(right, right_map, right_id, "RIGHT", mode)
        with _temporary_output(out) as tmp:
            if mode == "deterministic":
                summary = _deterministic(left_input, right_input, threshold, tmp, say)
            elif mode == "pprl":
                summary = _pprl(left_input, right_input, threshold, tmp, secret_file, agreement, key_version, say)
            else:
                summary = _probabilistic(left_input, right_input, tmp, say, **options)
    for side in (left_input, right_input):
        for note in getattr(side, "notes", []):
            err.print(f"note: {side.source}: {note}", highlight=False, soft_wrap=True)
    console.print(f"linked {summary['pairs']:,} pairs ({summary['how']}) in {time.perf_counter() - started:.1f} s "
                  f"-> {out}", highlight=False, soft_wrap=True)


# --------------------------------------------------------------------------- options


def _check_options(out: Path, mode: str, engine: str, threshold: float | None, chunks: int,
                   model_file: Path | None, agreement: str | None, secret_file: Path | None, key_version: int,
                   retrain: bool) -> dict[str, Any]:
    """Everything checkable before reading the inputs, so a bad option costs no time."""
    if mode not in MODES:
        raise InvalidInput(f"--mode must be one of {', '.join(MODES)}, not '{mode}'")
    if engine not in ENGINES:
        raise InvalidInput(f"--engine must be one of {', '.join(ENGINES)}, not '{engine}'")
    if engine != "duckdb" and mode != "probabilistic":
        raise InvalidInput(f"--engine {engine} applies to --mode probabilistic only")
    if out.suffix.lower() not in OUTPUT_SUFFIXES:
        raise InvalidInput(f"--out {out.name}: the output must be a .csv or .parquet file")
    if not out.parent.is_dir():
        raise InvalidInput(f"--out {out}: the directory {out.parent} does not exist")
    if out.is_dir():
        raise InvalidInput(f"--out {out} is a directory")
    if threshold is not None and not 0.0 <= threshold <= 1.0:
        raise InvalidInput(f"--threshold must be a probability between 0 and 1, not {threshold}")
    if chunks < 1:
        raise InvalidInput("--chunks must be 1 or more")
    if mode != "probabilistic":
        for given, name in ((model_file, "--model"), (retrain or None, "--retrain"), (chunks > 1 or None, "--chunks")):
            if given:
                raise InvalidInput(f"{name} applies to --mode probabilistic only")
    if mode != "pprl" and secret_file is not None:
        raise InvalidInput("--secret-file applies to --mode pprl only")
    if secret_file is not None and not agreement:
        raise InvalidInput("--secret-file needs --agreement: the key is derived for one agreement")
    if key_version < 1:
        raise InvalidInput("--key-version must be 1 or more")
    if model_file is not None and model_file.exists() and not model_file.is_file():
        raise InvalidInput(f"--model {model_file} is not a file")
    if model_file is not None and not model_file.parent.is_dir():
        raise InvalidInput(f"--model {model_file}: the directory {model_file.parent} does not exist")
    if agreement:
        _check_in_force(agreement)
    return {"engine": engine, "threshold": threshold, "chunks": chunks, "model_file": model_file,
            "agreement": agreement, "retrain": retrain}


def _check_in_force(agreement: str) -> None:
    from accord.services.linkage_models import check_agreement_in_force

    hub = open_hub()
    try:
        check_agreement_in_force(hub, agreement)
    finally:
        hub.close()


@contextmanager
def _progress():  # noqa: ANN202 - yields a function
    """A spinner with the current stage on stderr (only on a terminal: logs and pipes stay clean)."""
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=err,
                  transient=True, disable=not err.is_terminal) as bar:
        task = bar.add_task("starting", total=None)

        def say(stage: str) -> None:
            bar.update(task, description=stage)

        yield say


@contextmanager
def _temporary_output(out: Path):  # noqa: ANN202 - yields a path
    """A temporary file beside OUT, renamed to OUT on success and removed on failure."""
    tmp = out.with_name(f".{out.stem}.partial-{uuid.uuid4().hex[:8]}{out.suffix}")
    try:
        yield tmp
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)


def _prepare_side(path: Path, mapping: str | None, id_column: str | None, side: str, mode: str) -> Any:
    """A side's prepared records, or (pprl) its Bloom-filter encoding as uploaded by the body."""
    from accord.linkage.prepare import prepare_file

    if mode == "pprl":
        encoded = _read_encoded(path, side)
        if encoded is not None:
            return encoded
    return prepare_file(path, mapping, id_column, source=side)


# --------------------------------------------------------------------------- modes


def _write_table(table: pa.Table, tmp: Path) -> int:
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    if tmp.suffix.lower() == ".csv":
        pacsv.write_csv(table, tmp)
    else:
        pq.write_table(table, tmp, compression="zstd")
    return table.num_rows


def _deterministic(left: PreparedInput, right: PreparedInput, threshold: float | None, tmp: Path,
                   say: Any) -> dict[str, Any]:
    import pyarrow.compute as pc

    from accord.linkage.deterministic import link_tables

    say("linking with the deterministic cascade")
    result = link_tables(left.table, right.table)
    if threshold is not None:
        result = result.filter(pc.greater_equal(result.column("match_probability"), threshold))
    if "agreed" in result.column_names:  # a list: written as comma-separated field names (CSV has no lists)
        agreed = result.column("agreed")
        import pyarrow as pa

        if pa.types.is_list(agreed.type):
            index = result.column_names.index("agreed")
            result = result.set_column(index, "agreed", pc.binary_join(agreed, ","))
    say("writing pairs")
    return {"pairs": _write_table(result, tmp), "how": "deterministic cascade"}


def _read_encoded(path: Path, side: str) -> pa.Table | None:
    """The file as a Bloom-filter encoding if it is one (from `accord encode`: Parquet, or CSV with its
    parameters file beside it); None for plaintext records."""
    suffix = path.suffix.lower()
    if not path.is_file() or path.stat().st_size == 0:
        return None
    import pyarrow as pa
    import pyarrow.parquet as pq

    from accord.linkage import pprl

    if suffix == ".parquet":
        try:
            encoded = pprl.is_encoded(pq.read_schema(path))
        except (pa.ArrowInvalid, OSError):
            return None  # prepare_file reports it
    else:
        encoded = suffix == ".csv" and pprl.sidecar_path(path).is_file()
    if not encoded:
        return None
    table = pprl.read_encoded(path, f"{side} {path.name}")
    if table.num_rows == 0:
        raise InvalidInput(f"{side} {path.name} has no rows")
    return table


def _encoded_agreements(tables: list[pa.Table], agreement: str | None) -> set[str]:
    """The agreements the encodings were made for; refused if they differ from --agreement."""
    from accord.linkage import pprl

    named = {pprl.encoding_of(t.schema).get("agreement_id") for t in tables} - {None}
    if agreement and named and named != {agreement}:
        raise InvalidInput(f"the encodings were made for agreement {', '.join(sorted(named))}, not {agreement}")
    return named


def _read_secret(path: Path) -> bytes:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InvalidInput(f"--secret-file {path}: cannot be read ({exc.strerror})") from None
    return data.rstrip(b"\r\n")


def _pprl(left: Any, right: Any, threshold: float | None, tmp: Path, secret_file: Path | None,
          agreement: str | None, key_version: int, say: Any) -> dict[str, Any]:
    """Bloom-filter linkage: plaintext sides are encoded here first (with the agreement's key, or a fresh one)."""
    import pyarrow as pa

    from accord.linkage import pprl

    plaintext = [side for side in (left, right) if not isinstance(side, pa.Table)]
    how = "pprl on Bloom-filter encodings"
    encodings = [side for side in (left, right) if isinstance(side, pa.Table)]
    for named in sorted(_encoded_agreements(encodings, agreement) - {agreement}):
        _check_in_force(named)  # --agreement was checked with the other options
    if plaintext:
        if secret_file is not None:
            key = pprl.derive_agreement_key(_read_secret(secret_file), agreement or "", key_version)
            how = f"pprl, encoded with agreement {agreement}'s key version {key_version}"
        else:
            if len(plaintext) < 2:
                raise InvalidInput("one input is an encoding and the other is not: give --secret-file and "
                                   "--agreement to encode the other with the same key")
            key = secrets.token_bytes(32)
            how = "pprl, both sides encoded with a fresh random key"
            err.print("note: no --secret-file: both sides were encoded with a fresh random key, used for this "
                      "run only", highlight=False, soft_wrap=True)
    encoded = []
    for name, side in (("LEFT", left), ("RIGHT", right)):
        if isinstance(side, pa.Table):
            encoded.append(side)
        else:
            say(f"encoding {name} into Bloom filters")
            encoded.append(pprl.encode_table(side.table, key))
    say("linking encodings")
    result = pprl.link_encoded(encoded[0], encoded[1], threshold=threshold)
    say("writing pairs")
    return {"pairs": _write_table(result, tmp), "how": how}


def _probabilistic(left: PreparedInput, right: PreparedInput, tmp: Path, say: Any, *, engine: str,
                   threshold: float | None, chunks: int, model_file: Path | None, agreement: str | None,
                   retrain: bool, memory_limit: str = "6GB") -> dict[str, Any]:
    from accord.linkage import probabilistic as prob

    model, origin = _stored_model(model_file, agreement, retrain)
    engine_options = {"memory_limit": memory_limit} if engine == "duckdb" else {}
    if model is None:
        model = prob.train(left.table, right.table, engine=engine, progress=say, engine_options=engine_options)
        origin = _store_trained(model, model_file, agreement)
    result = prob.predict(left.table, right.table, model, tmp, engine=engine,
                          threshold=prob.DEFAULT_THRESHOLD if threshold is None else threshold,
                          chunks=chunks, progress=say, engine_options=engine_options)
    return {"pairs": result.pairs, "how": f"probabilistic on {engine}; {origin}"}


def _stored_model(model_file: Path | None, agreement: str | None, retrain: bool) -> tuple[LinkageModel | None, str]:
    """The model to predict with, from --model (if the file exists) or the agreement; None means train."""
    from accord.linkage.probabilistic import LinkageModel

    if retrain:
        return None, ""
    if model_file is not None and model_file.exists():
        return LinkageModel.load(model_file), f"model read from {model_file}"
    if agreement:
        from accord.services.linkage_models import latest_model

        hub = open_hub()
        try:
            stored = latest_model(hub, agreement)
        finally:
            hub.close()
        if stored is not None:
            return stored.model, f"agreement {agreement}'s model version {stored.version}"
    return None, ""


def _store_trained(model: LinkageModel, model_file: Path | None, agreement: str | None) -> str:
    kept = []
    if model_file is not None:
        model.save(model_file)
        kept.append(f"written to {model_file}")
    if agreement:
        from accord.services.linkage_models import store_model

        hub = open_hub()
        try:
            stored = store_model(hub, agreement, model)
        finally:
            hub.close()
        kept.append(f"stored as agreement {agreement}'s version {stored.version}")
    return "model trained" + (" and " + " and ".join(kept) if kept else " (not kept: give --model or --agreement "
                                                                          "to reuse it)")


_attach_link_tools()
