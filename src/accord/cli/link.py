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
import re
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from typer.core import TyperArgument, TyperGroup

from accord.cli.common import OFFICER_HELP, acting_for, console, err, open_hub, refused
from accord.errors import InvalidInput

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
    body: Annotated[str | None, typer.Option("--body", help="With --agreement: the body linking (a recipient), "
                                             "for whom reading RIGHT is decided and recorded", show_default=False)] = None,
    officer: Annotated[str | None, typer.Option("--officer", help="With --agreement: " + OFFICER_HELP, show_default=False)] = None,
    dataset: Annotated[str | None, typer.Option("--dataset", help="With --agreement: the dataset RIGHT holds, if "
                                                "the agreement discloses several", show_default=False)] = None,
) -> None:
    """Link two bodies' records and write one row per linked pair: left_id, right_id, match_probability."""
    if ctx.invoked_subcommand is not None:
        return
    if left is None or right is None:
        raise InvalidInput("give two input files: accord link LEFT RIGHT --out OUT")
    if out is None:
        raise InvalidInput("give the output file: --out OUT (.csv or .parquet)")
    _check_options(out, mode, engine, threshold, chunks, model_file, agreement, secret_file, key_version, retrain,
                   body, officer, dataset)
    if not re.fullmatch(r"\d+(\.\d+)?\s*(K|M|G|T|KB|MB|GB|TB|KiB|MiB|GiB|TiB)", memory_limit.strip()):
        raise InvalidInput(f"--memory-limit must be a size such as 6GB or 512MB, not '{memory_limit}'")
    from accord.services.linking import LinkRefused, LinkRequest, link as link_files, read_secret

    request = LinkRequest(
        left=left, right=right, out=out, mode=mode, engine=engine, left_id=left_id, right_id=right_id,
        left_map=left_map, right_map=right_map, threshold=threshold, agreement=agreement, dataset=dataset,
        model_file=model_file, retrain=retrain, chunks=chunks, memory_limit=memory_limit.strip(),
        secret=read_secret(secret_file) if secret_file is not None else None, key_version=key_version,
    )
    started = time.perf_counter()
    hub = open_hub() if agreement else None
    try:
        with _progress() as say:
            done = link_files(request, say, hub=hub, actor=acting_for(hub, body, officer) if hub and body else None)
    except LinkRefused as refusal:
        refused(refusal.reply)
    finally:
        if hub is not None:
            hub.close()
    for note in done.notes:
        err.print(f"note: {note}", highlight=False, soft_wrap=True)
    recorded = f"; decisions {', '.join(map(str, done.decisions))} recorded" if done.decisions else ""
    console.print(f"linked {done.pairs:,} pairs ({done.how}) in {time.perf_counter() - started:.1f} s "
                  f"-> {out}{recorded}", highlight=False, soft_wrap=True)


# --------------------------------------------------------------------------- options


def _check_options(out: Path, mode: str, engine: str, threshold: float | None, chunks: int,
                   model_file: Path | None, agreement: str | None, secret_file: Path | None, key_version: int,
                   retrain: bool, body: str | None, officer: str | None, dataset: str | None) -> None:
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
    if agreement and not body and (mode != "pprl" or secret_file is not None):
        raise InvalidInput("--agreement needs --body: linking under an agreement reads another body's records, so it "
                           "is decided and recorded for the body that asks")
    for given, name in ((body, "--body"), (officer, "--officer"), (dataset, "--dataset")):
        if given and not agreement:
            raise InvalidInput(f"{name} applies with --agreement only")
    if key_version < 1:
        raise InvalidInput("--key-version must be 1 or more")
    if model_file is not None and model_file.exists() and not model_file.is_file():
        raise InvalidInput(f"--model {model_file} is not a file")
    if model_file is not None and not model_file.parent.is_dir():
        raise InvalidInput(f"--model {model_file}: the directory {model_file.parent} does not exist")


@contextmanager
def _progress():  # noqa: ANN202 - yields a function
    """A spinner with the current stage on stderr (only on a terminal: logs and pipes stay clean)."""
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=err,
                  transient=True, disable=not err.is_terminal) as bar:
        task = bar.add_task("starting", total=None)

        def say(stage: str) -> None:
            bar.update(task, description=stage)

        yield say


_attach_link_tools()
