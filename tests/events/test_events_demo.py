"""The events part of `make demo`, against a real server on loopback and a small synthetic population."""

from __future__ import annotations

import io
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import httpx
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
import uvicorn
from events_support import seeded_api
from rich.console import Console

from accord.app import create_app
from accord.audit.log import entries_about
from accord.clock import utcnow
from accord.demo import events as demo_events
from accord.registry.credentials import create_client
from accord.services.citizens import DemoCitizen
from accord.synth import generate


@pytest.fixture(scope="module")
def synth_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("synth")
    generate(persons=1500, seed=2026, out=out, overwrite=True, workers=1)
    return out


def _people(synth_dir: Path) -> list[DemoCitizen]:
    persons = pq.read_table(synth_dir / "truth" / "population" / "persons.parquet")
    living = persons.filter(pc.and_(pc.is_valid(persons["nino"]), pc.is_null(persons["date_of_death"]))).slice(0, 3)
    return [DemoCitizen(name=f"{r['first_name']} {r['surname']}", nino=r["nino"]) for r in living.to_pylist()]


def test_the_demo_delivers_a_death_and_answers_deceased_checks(sqlite_hub, synth_dir: Path) -> None:  # noqa: ANN001
    hub = seeded_api(sqlite_hub).hub
    server = uvicorn.Server(uvicorn.Config(create_app(hub=hub), host="127.0.0.1", port=0, log_level="warning",
                                           lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    url = f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"

    def token(body_id: str) -> str:
        with hub.transaction() as session:
            issued = create_client(session, body_id, utcnow(), label="demo test")
        return httpx.post(f"{url}/oauth/token", data={"grant_type": "client_credentials"},
                          auth=(issued.client_id, issued.client_secret)).json()["access_token"]

    people = _people(synth_dir)
    output = io.StringIO()
    ctx = SimpleNamespace(url=url, hub=hub, console=Console(file=output, width=300), synth_dir=synth_dir,
                          token=token, people=people)
    try:
        demo_events.run(ctx)
    finally:
        server.should_exit = True
        thread.join(10)
    text = output.getvalue()
    assert "Webhook delivered: yes; signature verified by the receiver: yes" in text
    assert "the postcode GRO recorded is not disclosed: True" in text
    assert f'Deceased check for {people[0].name} (living): {{"deceased": false}}' in text
    assert f'Deceased check for {people[-1].name} (recorded dead): {{"deceased": true}}' in text

    # The dead person's "who used my data" shows GRO's record, DWP's receipt and DWP's check.
    with hub.transaction() as session:
        seen = entries_about(session, hub.person_key("nino", people[-1].nino), now=utcnow())
    assert sorted(entry["action"] for entry in seen) == ["deceased.check", "events.receive", "events.record"]
