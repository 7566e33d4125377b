"""Demo step: Brightwatt Energy checks its customers for the Warm Home Discount, over HTTP.

The supplier uploads its synthetic customer list to ``POST /v1/eligibility/jobs`` under
``warm-home-discount-2026``, follows the job to the end and reads back only an eligible /
not matched flag per account. The demo server runs without its lifespan, so this step starts
a job worker for the hub (kept running while the demo serves, so jobs sent later run too).
"""

from __future__ import annotations

import atexit
import csv
import io
import time

import httpx

from accord.services import jobs

AGREEMENT = "warm-home-discount-2026"
SUPPLIER = "brightwatt-energy"
_worker: jobs.Worker | None = None


def _ensure_worker(ctx) -> None:  # noqa: ANN001
    global _worker
    if _worker is None:
        _worker = jobs.Worker(ctx.hub, name="demo-worker")
        _worker.start()
        atexit.register(_worker.stop)


def run(ctx) -> None:  # noqa: ANN001 - accord.demo.context.DemoContext
    console = ctx.console
    console.rule("Warm Home Discount: eligibility job")
    source = ctx.synth_dir / "brightwatt-customers.parquet"
    if not source.is_file():
        console.print(f"[yellow]skipped:[/yellow] no customer list at {source}")
        return
    _ensure_worker(ctx)
    headers = {
        "Authorization": f"Bearer {ctx.token(SUPPLIER)}",
        "Idempotency-Key": "demo-whd-2026",
        "Content-Type": "application/vnd.apache.parquet",
    }
    with httpx.Client(base_url=ctx.url, timeout=30) as http:
        response = http.post("/v1/eligibility/jobs", params={"agreement": AGREEMENT}, headers=headers,
                             content=source.read_bytes())
        if response.status_code != 202:
            console.print(f"[red]submission refused[/red] ({response.status_code}): {response.json().get('detail')}")
            return
        job = response.json()
        console.print(f"Brightwatt submitted {job['progress']['total']:,} customers: job {job['id']} queued")
        auth = {"Authorization": headers["Authorization"]}
        deadline = time.monotonic() + 60
        while job["state"] in ("queued", "running") and time.monotonic() < deadline:
            time.sleep(0.3)
            job = http.get(job["links"]["self"], headers=auth).json()
        if job["state"] != "succeeded":
            console.print(f"[red]the job ended {job['state']}[/red]: {job.get('error') or 'timed out'}")
            return
        results = http.get(job["links"]["results"], headers=auth)
        rows = list(csv.DictReader(io.StringIO(results.text)))
        other = http.get(job["links"]["self"], headers={"Authorization": f"Bearer {ctx.token('dwp')}"})
    eligible = sum(row["result"] == "eligible" for row in rows)
    console.print(
        f"Results: {eligible:,} eligible (matched), {len(rows) - eligible:,} not matched; "
        f"columns {', '.join(rows[0]) if rows else '-'} and nothing else"
    )
    decision = job["summary"].get("decision_id")
    console.print(
        f"One decision recorded when the job read DWP's records (eligibility.check, decision {decision}, "
        f"{job['progress']['total']:,} records); at release only the matched people are named against it, "
        f"by pseudonymous key; DWP asking for the job gets {other.status_code}"
    )
    console.print(f"Status page: {ctx.url}{job['links']['status_page']}", highlight=False)
