"""The demo step against a real server on loopback: three synthetic people, one mistyped, one who does not exist."""

from __future__ import annotations

import io
from pathlib import Path

import pyarrow.compute as pc
import pyarrow.parquet as pq
from rich.console import Console
from verification_support import AGREEMENT, seed, start_server

from accord.clock import utcnow
from accord.demo import verification as demo_step
from accord.demo.context import DemoContext
from accord.runtime import Hub
from accord.services import citizens


def _people(synth: Path) -> list[citizens.DemoCitizen]:
    persons = pq.read_table(synth / "truth" / "population" / "persons.parquet")
    in_dwp = pq.read_table(synth / "truth" / "dwp-benefits.parquet", columns=["person_id"]).column("person_id")
    chosen = persons.filter(pc.and_(pc.and_(pc.is_valid(persons["nino"]), pc.is_null(persons["date_of_death"])),
                                    pc.is_in(persons["person_id"], value_set=pc.unique(in_dwp)))).slice(0, 3)
    return [citizens.DemoCitizen(f"{r['first_name']} {r['surname']}", r["nino"], r["first_name"], r["surname"],
                                 r["date_of_birth"].isoformat()) for r in chosen.to_pylist()]


def test_the_demo_checks_three_people_and_a_stranger_over_http(sqlite_hub: Hub, synth: Path) -> None:
    seed(sqlite_hub)  # no holding: the step loads DWP's records itself when the demo has not
    people = _people(synth)
    server, thread, port = start_server(sqlite_hub)
    output = io.StringIO()
    try:
        ctx = DemoContext(url=f"http://127.0.0.1:{port}", hub=sqlite_hub, console=Console(file=output, width=200),
                          synth_dir=synth, people=people)
        demo_step.run(ctx)
    finally:
        server.should_exit = True
        thread.join(10)
    text = output.getvalue()
    assert text.count("ER-000") == 5 and "does not exist): no match" in text
    assert f"Probabilistic model v1 for {AGREEMENT}" in text
    assert "(date of birth mistyped, no NINO): match (agreed: first_name, middle_name, surname, postcode)" in text \
        or "(date of birth mistyped, no NINO): match (agreed: first_name, surname, postcode)" in text, text
    assert "403 refused" in text
    for person in people:  # each person sees the check on their citizen page (the matched DWP record names them)
        seen = citizens.accesses(sqlite_hub, person.keys(sqlite_hub), utcnow())
        assert AGREEMENT in {e["agreement_id"] for e in seen if e["outcome"] == "allow"}
