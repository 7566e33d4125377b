"""`accord demo`: a fresh example hub, example requests over HTTP, then serve it.

Builds a new SQLite database under DATA_DIR/demo, loads the framework, the
example bodies, datasets and one agreement per gateway (some active, one in
consultation, one refused with its reasons), starts the server, sends example
requests to it as the bodies would, prints what happened and keeps serving.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Annotated

import httpx
import typer
import uvicorn
from rich.table import Table

from accord.app import create_app
from accord.cli.common import console
from accord.clock import utcnow
from accord.config import load_settings
from accord.demo.seed import seed_agreements, seed_registry
from accord.registry import credentials
from accord.runtime import Hub
from accord.services import audit

DEMO_CLIENTS = ("accord-hub", "northshire-council", "brightwatt-energy", "dwp")

EXAMPLE_REQUESTS = [
    (
        "northshire-council",
        "Supporting Families: fields beyond the agreement are removed",
        {
            "action": "dataset.read",
            "dataset": "dwp-benefits",
            "purpose": "public_service_delivery:multiple_disadvantages",
            "fields": ["nino", "surname", "date_of_birth", "postcode", "benefit_type", "disability_indicator"],
            "records": 2,
            "subjects": [{"nino": "JE123456A"}, {"nino": "SS654321B"}],
        },
    ),
    (
        "brightwatt-energy",
        "Warm Home Discount: eligibility flag only",
        {
            "action": "eligibility.check",
            "dataset": "dwp-benefits",
            "purpose": "public_service_delivery:fuel_poverty",
            "fields": ["pension_credit_guarantee"],
            "records": 1,
            "subjects": [{"nino": "PP112233C"}],
        },
    ),
    (
        "brightwatt-energy",
        "Warm Home Discount: asking for NINOs is denied (agreement denies extra fields)",
        {
            "action": "eligibility.check",
            "dataset": "dwp-benefits",
            "purpose": "public_service_delivery:fuel_poverty",
            "fields": ["pension_credit_guarantee", "nino"],
            "subjects": [{"nino": "PP112233C"}],
        },
    ),
    (
        "northshire-council",
        "Debt pilot still in public consultation: denied",
        {
            "action": "records.match",
            "dataset": "hmrc-paye",
            "purpose": "debt",
            "fields": ["nino", "annual_pay"],
        },
    ),
    (
        "northshire-council",
        "No agreement for death registrations: denied",
        {
            "action": "dataset.read",
            "dataset": "gro-deaths",
            "purpose": "civil_registration",
            "fields": ["surname", "date_of_death"],
        },
    ),
    (
        "northshire-council",
        "Fraud pilot: over the per-request volume limit: denied",
        {
            "action": "records.match",
            "dataset": "dwp-benefits",
            "purpose": "fraud",
            "fields": ["surname", "postcode"],
            "records": 25000,
        },
    ),
    (
        "northshire-council",
        "Fraud pilot: a lead about Jordan, hidden from Jordan for 3 months (embargo)",
        {
            "action": "records.match",
            "dataset": "dwp-benefits",
            "purpose": "fraud",
            "fields": ["surname", "postcode", "address_line_1"],
            "subjects": [{"nino": "JE123456A"}],
        },
    ),
]


def demo(
    serve: Annotated[bool, typer.Option(help="Keep serving after the example requests")] = True,
    port: Annotated[int | None, typer.Option(help="Port (default ACCORD_PORT; 0 picks a free one)")] = None,
) -> None:
    """Run the demo on the embedded default (SQLite) and serve it."""
    base = load_settings()
    demo_dir = base.data_dir / "demo"
    database = demo_dir / "accord.db"
    _fresh(database)
    settings = load_settings(data_dir=demo_dir, database_url=f"sqlite:///{database.as_posix()}")
    hub = Hub.open(settings)
    console.rule("[bold]Accord demo")
    console.print(f"Fresh database: {database}")
    console.print(f"Framework: {hub.framework.title} - {len(hub.framework.gateways)} gateways")

    now = utcnow()
    with hub.transaction() as session:
        seed_registry(session, hub.framework, now)
        seeded = seed_agreements(session, hub.framework, now)
        issued = {body: credentials.create_client(session, body, now, label="demo") for body in DEMO_CLIENTS}
    _print_agreements(seeded)

    server, thread, actual_port = _start(create_app(hub=hub), settings.host, port if port is not None else settings.port)
    url = f"http://{settings.host}:{actual_port}"
    try:
        _run_examples(url, issued)
        _audit(hub)
        _print_next_steps(url, issued["northshire-council"])
        if serve:
            console.print("\nServing - press Ctrl+C to stop.")
            while thread.is_alive():
                thread.join(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        server.should_exit = True
        thread.join(10)
        hub.close()


def _fresh(database: Path) -> None:
    database.parent.mkdir(parents=True, exist_ok=True)
    for suffix in ("", "-wal", "-shm"):
        Path(f"{database}{suffix}").unlink(missing_ok=True)


def _print_agreements(seeded) -> None:  # noqa: ANN001
    table = Table("agreement", "status", title="Agreements (one per gateway)")
    for agreement_id, status in seeded.created.items():
        table.add_row(agreement_id, status)
    console.print(table)
    for agreement_id, reasons in seeded.refused.items():
        console.print(f"[bold red]Refused[/bold red] {agreement_id}:")
        for reason in reasons:
            console.print(f"  - {reason}", highlight=False)


def _start(app, host: str, port: int):  # noqa: ANN001, ANN202
    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, name="accord-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"the server did not start on {host}:{port} (is the port in use?)")
        time.sleep(0.05)
    actual = server.servers[0].sockets[0].getsockname()[1]
    return server, thread, actual


def _run_examples(url: str, issued: dict) -> None:  # noqa: ANN001
    console.rule("Example requests, sent over HTTP as each body would")
    with httpx.Client(base_url=url, timeout=10) as http:
        tokens = {}
        for body, secret in issued.items():
            response = http.post(
                "/oauth/token",
                data={"grant_type": "client_credentials"},
                auth=(secret.client_id, secret.client_secret),
            )
            response.raise_for_status()
            tokens[body] = response.json()["access_token"]
        unauthenticated = http.get("/v1/agreements")
        console.print(
            f"Unauthenticated GET /v1/agreements -> {unauthenticated.status_code}: {unauthenticated.json()['detail']}"
        )
        for body, title, payload in EXAMPLE_REQUESTS:
            response = http.post(
                "/v1/decisions",
                json=payload,
                headers={"Authorization": f"Bearer {tokens[body]}", "X-Accord-Officer": f"demo officer at {body}"},
            )
            decision = response.json()
            verdict = "[green]ALLOW[/green]" if decision.get("allowed") else "[red]DENY[/red]"
            console.print(f"\n{verdict} {body}: {title}")
            for reason in decision.get("reasons", [decision.get("detail")]):
                console.print(f"  - {reason}", highlight=False)
            if decision.get("allowed"):
                console.print(f"  permitted fields: {', '.join(decision['permitted_fields'])}", highlight=False)


def _audit(hub: Hub) -> None:
    console.rule("Audit log")
    signed = audit.checkpoint_now(hub)
    report = audit.verify_log(hub)
    console.print(f"Signed checkpoint of {signed['tree_size']} entries (root {signed['root_hash']})")
    console.print(f"Verification: {'passed' if report.ok else 'FAILED: ' + '; '.join(report.problems)}")


def _print_next_steps(url: str, council) -> None:  # noqa: ANN001
    console.rule("Open")
    console.print(f"Public register:      {url}/register")
    console.print(f"Who used my data:     {url}/citizen  (sign in as a synthetic person)")
    console.print(f"Audit checkpoint:     {url}/audit/checkpoint")
    console.print(f"Register as JSON/CSV: {url}/register/agreements.json  {url}/register/agreements.csv")
    console.print(f"API documentation:    {url}/docs")
    console.print("\nTry the API as Northshire County Council (demo credentials, development only):")
    console.print(
        f"  curl -s -u {council.client_id}:{council.client_secret} -d grant_type=client_credentials {url}/oauth/token",
        highlight=False,
        soft_wrap=True,
    )
