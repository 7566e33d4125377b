"""`accord jobs`: background job workers and the queue, for the hub operator.

`accord serve` already runs ``ACCORD_JOB_WORKERS`` workers; `accord jobs work`
adds a worker in a process of its own (more of them on PostgreSQL share the
queue through ``FOR UPDATE SKIP LOCKED``).
"""

from __future__ import annotations

import signal
import threading
from typing import Annotated

import typer
from rich.table import Table

from accord.cli.common import console, open_hub
from accord.services import jobs

app = typer.Typer(help="Background jobs: workers and the queue (hub operator).", no_args_is_help=True)


@app.command("work")
def work(
    once: Annotated[bool, typer.Option("--once", help="Run the jobs waiting now, then exit")] = False,
    name: Annotated[str | None, typer.Option(help="This worker's name in job leases (default host:pid:random)")] = None,
) -> None:
    """Run a job worker in this process until stopped (Ctrl-C or SIGTERM finish the current chunk first)."""
    hub = open_hub()
    if once:
        ran = jobs.run_pending(hub, name)
        for job_id, state in ran:
            console.print(f"{job_id}: {state}")
        console.print(f"{len(ran)} job(s) run")
        return
    worker = jobs.Worker(hub, name)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    worker.start()
    console.print(f"job worker {worker.name} running; Ctrl-C to stop")
    while not stop.wait(1):
        pass
    console.print("stopping after the current chunk ...")
    worker.stop(timeout=hub.settings.job_lease_seconds)
    hub.close()


@app.command("list")
def list_(
    body: Annotated[str | None, typer.Option(help="Only this body's jobs")] = None,
    state: Annotated[str | None, typer.Option(help="Only jobs in this state")] = None,
) -> None:
    """List jobs, newest first: state, progress, attempts and lease (never their data)."""
    hub = open_hub()
    table = Table("job", "kind", "body", "agreement", "state", "progress", "attempts", "lease held by")
    with hub.transaction() as session:
        for job in jobs.list_jobs(session, body_id=body, state=state):
            table.add_row(job.id, job.kind, job.body_id, job.agreement_id, job.state, f"{job.done:,}/{job.total:,}",
                          str(job.attempts), job.lease_owner or "")
    console.print(table)
