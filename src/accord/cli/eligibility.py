"""`accord eligibility`: Warm Home Discount eligibility jobs, run on this hub for a body.

The commands act for the body named with ``--body`` on the hub whose data
directory and database the environment names, as the hub operator or a
supplier's system on the hub's machine would. Suppliers elsewhere use the API
(docs/eligibility.md); both go through the same service and policy.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from accord.cli.common import OFFICER_HELP, acting, acting_for, answer_of, console, open_hub, print_json
from accord.errors import InvalidInput
from accord.files import parse_mapping
from accord.runtime import Hub
from accord.services import eligibility, jobs

app = typer.Typer(help="Fuel-poverty eligibility (Warm Home Discount) jobs.", no_args_is_help=True)

Body = Annotated[str, typer.Option("--body", help="The body acting (the supplier that submits and owns the job)")]
JobArg = Annotated[str, typer.Argument(metavar="JOB", help="The job id (job-...)")]
FINISHED = ("succeeded", "failed", "cancelled")


def _print_view(view: dict) -> None:
    progress = view["progress"]
    table = Table(show_header=False, box=None)
    table.add_row("job", view["id"])
    table.add_row("agreement", view["agreement_id"])
    table.add_row("state", view["state"] + (" (cancel requested)" if view["cancel_requested"] and
                                            view["state"] == "running" else ""))
    table.add_row("progress", f"{progress['done']:,} of {progress['total']:,} customers "
                              f"({progress['chunks_done']} of {progress['chunks']} chunks)")
    for name, value in view["summary"].items():
        if name in ("eligible", "not_matched"):
            table.add_row(name.replace("_", " "), f"{value:,}")
    if view["error"]:
        table.add_row("error", view["error"])
    if view["results_expire_at"]:
        table.add_row("results kept until", view["results_expire_at"])
    console.print(table)


def _status(hub: Hub, job_id: str, body: str) -> dict:
    return eligibility.job_view(hub, acting(hub, body, None), job_id)


def _follow(hub: Hub, job_id: str, body: str, *, run_here: bool) -> dict:
    """Show a progress bar until the job finishes (running it in this process if asked)."""
    view = _status(hub, job_id, body)
    columns = (TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True, disable=not sys.stderr.isatty()) as bar:
        task = bar.add_task("matching", total=view["progress"]["total"])
        if run_here:
            owner = jobs.worker_name()

            def moved(_index: int) -> None:
                bar.update(task, completed=_status(hub, job_id, body)["progress"]["done"])

            if jobs.claim(hub, owner) == job_id:
                jobs.run_claimed(hub, job_id, owner, on_chunk=moved)
            view = _status(hub, job_id, body)
        while view["state"] not in FINISHED:  # a worker elsewhere has it (or took it first): follow it
            time.sleep(1)
            view = _status(hub, job_id, body)
            bar.update(task, completed=view["progress"]["done"])
    return view


@app.command("submit")
def submit(
    path: Annotated[Path, typer.Argument(metavar="FILE", help="The customer list: CSV (with a header) or Parquet")],
    agreement: Annotated[str, typer.Option(help="The fuel-poverty agreement, e.g. warm-home-discount-2026")],
    body: Body,
    officer: Annotated[str | None, typer.Option(help=OFFICER_HELP)] = None,
    reference: Annotated[
        str | None, typer.Option(help="The account reference column (default: account_reference or account_ref)")
    ] = None,
    mapping: Annotated[
        str | None,
        typer.Option("--map", help="Matching fields to columns: first_name=forename,postcode=supply_postcode"),
    ] = None,
    chunk_rows: Annotated[
        int | None, typer.Option(help="Rows per chunk (default ACCORD_JOB_CHUNK_ROWS)", min=1, max=10_000_000)
    ] = None,
    wait: Annotated[bool, typer.Option("--wait", help="Wait for a worker to finish the job, showing progress")] = False,
    run: Annotated[bool, typer.Option("--run", help="Run the job in this process now, then print its counts")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the job as JSON")] = False,
) -> None:
    """Validate a customer list, check the policy and queue an eligibility job."""
    hub = open_hub()
    fields = parse_mapping(mapping, "--map")
    reply = eligibility.submit(hub, acting_for(hub, body, officer), path, agreement_id=agreement, mapping=fields,
                               reference=reference, chunk_rows=chunk_rows)
    view = answer_of(reply)
    if wait or run:
        view = _follow(hub, view["id"], body, run_here=run)
    if as_json:
        print_json(view)
        return
    if not (wait or run):
        console.print(f"queued job {view['id']}: {view['progress']['total']:,} customers under {agreement}")
        return
    _print_view(view)
    if view["state"] != "succeeded":
        raise typer.Exit(1)


@app.command("status")
def status(
    job_id: JobArg,
    body: Body,
    as_json: Annotated[bool, typer.Option("--json", help="Print the job as JSON")] = False,
) -> None:
    """Show a job's state and progress (only the body that submitted it sees it)."""
    view = _status(open_hub(), job_id, body)
    if as_json:
        print_json(view)
    else:
        _print_view(view)


@app.command("list")
def list_(
    body: Body,
    state: Annotated[str | None, typer.Option(help="Only jobs in this state")] = None,
) -> None:
    """List the body's eligibility jobs, newest first."""
    table = Table("job", "agreement", "state", "progress", "created")
    for view in eligibility.job_views(hub := open_hub(), acting(hub, body, None), state):
        progress = view["progress"]
        table.add_row(view["id"], view["agreement_id"], view["state"], f"{progress['done']:,}/{progress['total']:,}",
                      view["created_at"][:19])
    console.print(table)


@app.command("cancel")
def cancel(job_id: JobArg, body: Body) -> None:
    """Cancel a job: at once if queued, between chunks if running; partial results are deleted."""
    view = jobs.cancel(open_hub(), job_id, body)
    if view["state"] == "cancelled":
        console.print(f"job {job_id} cancelled; its partial results are deleted")
    else:
        console.print(f"job {job_id} will stop after its current chunk")


@app.command("results")
def results(
    job_id: JobArg,
    body: Body,
    out: Annotated[Path | None, typer.Option(help="Write the CSV here (default: print it)")] = None,
) -> None:
    """The results as CSV: account_reference and result (eligible / not matched), nothing else."""
    path = jobs.result_file(open_hub(), job_id, body)
    if out is None:
        with path.open(encoding="utf-8") as handle:
            for line in handle:
                sys.stdout.write(line)
        return
    if out.is_dir():
        raise InvalidInput(f"{out}: is a directory; give a file name")
    temp = out.with_name(f".{out.name}.tmp")
    try:
        with path.open("rb") as source, temp.open("wb") as target:
            while block := source.read(1 << 20):
                target.write(block)
        os.replace(temp, out)
    except FileNotFoundError as exc:
        temp.unlink(missing_ok=True)
        raise InvalidInput(f"{out}: cannot be written ({exc.strerror})") from None
    rows = sum(1 for _ in out.open(encoding="utf-8")) - 1
    console.print(f"wrote {rows:,} results to {out}")


@app.command("claimants")
def claimants(
    path: Annotated[Path, typer.Argument(metavar="FILE", help="The encoding made with accord encode (Parquet)")],
    agreement: Annotated[str, typer.Option(help="The agreement the encoding was made for")],
    body: Body,
) -> None:
    """Provide the discloser's encoding of its claimants, to link encoded customer lists with."""
    info = eligibility.load_encoded_claimants(open_hub(), agreement, body, path)
    console.print(f"loaded the encoding of {info['rows']:,} {info['dataset_id']} records for {agreement} "
                  f"(key version {info['key_version']}, fingerprint {info['key_fingerprint']})")
