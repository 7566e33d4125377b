"""`accord demo`: a fresh example hub, example requests over HTTP, then serve it.

Builds a new SQLite database under DATA_DIR/demo, loads the framework, the
example bodies, datasets and one agreement per gateway (some active, one in
consultation, one refused with its reasons), starts the server, sends example
requests to it as the bodies would, prints what happened and keeps serving.
"""

from __future__ import annotations

import json
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
from accord.demo.context import DemoContext, service_steps
from accord.demo.seed import seed_agreements, seed_officers, seed_registry
from accord.registry import credentials, datasets
from accord.runtime import Hub
from accord.errors import AccordError
from accord.services import audit, citizens, holdings

DEMO_CLIENTS = ("accord-hub", "northshire-council", "brightwatt-energy", "dwp")

def example_requests(first, second, third) -> list:  # noqa: ANN001 - three DemoCitizens
    """Requests as the bodies would send them, naming the synthetic people they are about."""
    return [
        (
            "northshire-council",
            "Supporting Families: fields beyond the agreement are removed",
            {
                "action": "dataset.read",
                "dataset": "dwp-benefits",
                "purpose": "public_service_delivery:multiple_disadvantages",
                "fields": ["nino", "surname", "date_of_birth", "postcode", "benefit_type", "disability_indicator"],
                "records": 2,
                "subjects": [{"nino": first.nino}, {"nino": second.nino}],
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
                "subjects": [{"nino": third.nino}],
            },
        ),
        (
            "brightwatt-energy",
            "Warm Home Discount: asking for disability data is denied (agreement denies extra fields)",
            {
                "action": "eligibility.check",
                "dataset": "dwp-benefits",
                "purpose": "public_service_delivery:fuel_poverty",
                "fields": ["pension_credit_guarantee", "disability_indicator"],
                "subjects": [{"nino": third.nino}],
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
            f"Fraud pilot: a lead about {first.name}, hidden from them for 3 months (embargo)",
            {
                "action": "records.match",
                "dataset": "dwp-benefits",
                "purpose": "fraud",
                "fields": ["surname", "postcode", "address_line_1"],
                "subjects": [{"nino": first.nino}],
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
        registered = seed_officers(session, now)
        issued = {body: credentials.create_client(session, body, now, label="demo") for body in DEMO_CLIENTS}
    _print_agreements(seeded)
    _print_officers(registered)
    people = _synthetic_data(hub, demo_dir)

    server, thread, actual_port = _start(create_app(hub=hub), settings.host, port if port is not None else settings.port)
    url = f"http://{settings.host}:{actual_port}"
    try:
        context = DemoContext(url=url, hub=hub, console=console, synth_dir=demo_dir / "synth", people=people)
        _run_examples(url, issued, example_requests(*people), context)
        _run_services(context)
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


SYNTH_PERSONS, SYNTH_SEED = 20_000, 2026


def _synthetic_data(hub: Hub, demo_dir: Path) -> list[citizens.DemoCitizen]:
    """Generate the bodies' synthetic records, check them against the registered schemas,
    and choose three people the example requests are about (offered at sign-in)."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from accord.synth import generate

    out = demo_dir / "synth"
    console.rule("Synthetic data")
    generate(persons=SYNTH_PERSONS, seed=SYNTH_SEED, out=out, overwrite=True, workers=1)
    table = Table("dataset", "records", "registered fields present", title=f"{SYNTH_PERSONS:,} synthetic people")
    with hub.transaction() as session:
        for dataset in datasets.list_datasets(session):
            path = out / f"{dataset.id}.parquet"
            if not path.is_file():
                table.add_row(dataset.id, "-", "no file")
                continue
            columns = set(pq.read_schema(path).names)
            missing = [f.name for f in dataset.fields if f.name not in columns]
            rows = pq.ParquetFile(path).metadata.num_rows
            table.add_row(dataset.id, f"{rows:,}", "all" if not missing else "missing: " + ", ".join(missing))
    console.print(table)
    console.print(f"Files: {out} (the answer key, never shared, is in {out / 'truth'})", highlight=False)
    _load_holdings(hub, out)

    # Three living adults with a National Insurance number who have a DWP record.
    persons = pq.read_table(out / "truth" / "population" / "persons.parquet")
    in_dwp = pq.read_table(out / "truth" / "dwp-benefits.parquet", columns=["person_id"]).column("person_id")
    eligible = persons.filter(
        pc.and_(
            pc.and_(pc.is_valid(persons["nino"]), pc.is_null(persons["date_of_death"])),
            pc.is_in(persons["person_id"], value_set=pc.unique(in_dwp)),
        )
    ).slice(0, 3)
    people = [
        citizens.DemoCitizen(name=f"{row['first_name']} {row['surname']}", nino=row["nino"],
                             first_name=row["first_name"], surname=row["surname"],
                             date_of_birth=row["date_of_birth"].isoformat())
        for row in eligible.select(["first_name", "surname", "nino", "date_of_birth"]).to_pylist()
    ]
    citizens.write_demo_citizens(demo_dir, people)
    console.print("The example requests are about " + ", ".join(p.name for p in people) + " (synthetic people).")
    return people


def _fresh(database: Path) -> None:
    database.parent.mkdir(parents=True, exist_ok=True)
    for suffix in ("", "-wal", "-shm"):
        Path(f"{database}{suffix}").unlink(missing_ok=True)


def _print_agreements(seeded) -> None:  # noqa: ANN001
    table = Table("agreement", "status", title="Agreements (one per gateway)",
                  caption="The hub operator drafted each; every party named in it confirmed it before consultation.")
    for agreement_id, status in seeded.created.items():
        table.add_row(agreement_id, status)
    console.print(table)
    for agreement_id, reasons in seeded.refused.items():
        console.print(f"[bold red]Refused[/bold red] {agreement_id}:")
        for reason in reasons:
            console.print(f"  - {reason}", highlight=False)


def _start(app, host: str, port: int):  # noqa: ANN001, ANN202
    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, name="accord-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"the server did not start on {host}:{port} (is the port in use?)")
        time.sleep(0.05)
    actual = server.servers[0].sockets[0].getsockname()[1]
    return server, thread, actual


def _print_officers(registered: list[dict]) -> None:
    console.rule("Officers (people, each at one body, with roles)")
    for officer in registered:
        console.print(f"{officer['name']} at {officer['body_id']}: {', '.join(officer['roles'])}", highlight=False)


def _run_examples(url: str, issued: dict, requests: list, context: DemoContext) -> None:  # noqa: ANN001
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
        for body, title, payload in requests:
            response = http.post(
                "/v1/decisions",
                json=payload,
                headers={"Authorization": f"Bearer {tokens[body]}"},  # a body's system, recorded as system:<client>
            )
            decision = response.json()
            verdict = "[green]ALLOW[/green]" if decision.get("allowed") else "[red]DENY[/red]"
            console.print(f"\n{verdict} {body}: {title}")
            for reason in decision.get("reasons", [decision.get("detail")]):
                console.print(f"  - {reason}", highlight=False)
            if decision.get("allowed"):
                console.print(f"  permitted fields: {', '.join(decision['permitted_fields'])}", highlight=False)
        # A person acts within their roles: Northshire's auditor may read what was recorded, not ask for data.
        auditor = http.post("/v1/decisions", json=requests[0][2],
                            headers={"Authorization": f"Bearer {context.officer_token('demo|northshire-auditor')}"})
        console.print(f"\n[red]REFUSED[/red] Owen Auditor (auditor) at northshire-council asks the same -> "
                      f"{auditor.status_code}: {auditor.json()['detail']}", highlight=False)


def _load_holdings(hub: Hub, out: Path) -> None:
    """Each source body loads its synthetic records for its registered datasets."""
    with hub.transaction() as session:
        ids = [dataset.id for dataset in datasets.list_datasets(session)]
    loaded = []
    for dataset_id in ids:
        path = out / f"{dataset_id}.parquet"
        if path.is_file():
            info = holdings.load_holding(hub, dataset_id, path)
            loaded.append(f"{dataset_id} ({info.rows:,})")
    console.print("Holdings loaded (registered fields only): " + ", ".join(loaded), highlight=False)


def _run_services(ctx: DemoContext) -> None:
    for name, run in service_steps():
        console.rule(f"Purpose service: {name}")
        started = time.perf_counter()
        try:
            run(ctx)
        except (AccordError, httpx.HTTPError) as exc:
            console.print(f"[red]{name} demo failed:[/red] {exc}", highlight=False)
        console.print(f"[dim]{name}: {time.perf_counter() - started:.1f} s[/dim]")


def _audit(hub: Hub) -> None:
    console.rule("Audit log")
    signed = audit.checkpoint_now(hub)
    report = audit.verify_log(hub)
    console.print(f"Signed checkpoint of {signed['tree_size']} entries (root {signed['root_hash']})")
    console.print(f"Verification: {'passed' if report.ok else 'FAILED: ' + '; '.join(report.problems)}")


def _print_next_steps(url: str, council) -> None:  # noqa: ANN001
    console.rule("Open")
    console.print(f"Public register:      {url}/register")
    console.print(f"Who used my data:     {url}/citizen  (sign in as one of the people above)")
    console.print(f"Officers:             {url}/officer  (sign in as one of the officers above; take an API token)")
    console.print(f"Audit checkpoint:     {url}/audit/checkpoint")
    console.print(f"Register as JSON/CSV: {url}/register/agreements.json  {url}/register/agreements.csv")
    console.print(f"API documentation:    {url}/docs")
    console.print("\nTry the API as Northshire County Council's system (demo credentials, development only):")
    console.print(
        f"  curl -s -u {council.client_id}:{council.client_secret} -d grant_type=client_credentials {url}/oauth/token",
        highlight=False,
        soft_wrap=True,
    )
