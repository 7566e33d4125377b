"""Demo step: Northshire asks, over HTTP, which of its households face multiple disadvantages.

Prints the count and two example households with the factors they meet, shows
that a body outside the agreement is refused (and recorded), and offers one
person named in the request at the demo's sign-in, so their "who used my data"
page shows it.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pyarrow.compute as pc
import pyarrow.parquet as pq
from sqlalchemy import select

from accord.services import citizens, disadvantages
from accord.storage.models import AuditEntry, AuditSubject

COUNCIL = "northshire-council"
AGREEMENT = "supporting-families-northshire-partners"
URL = "/v1/households/multiple-disadvantages"


def run(ctx) -> None:  # noqa: ANN001 - accord.demo.context.DemoContext
    factors, _least = disadvantages.objective_factors(ctx.hub.framework)
    with httpx.Client(base_url=ctx.url, timeout=60) as http:
        response = http.post(URL, json={"agreement": AGREEMENT}, headers={
            "Authorization": f"Bearer {ctx.officer_token('demo|northshire-early-help')}"})
        response.raise_for_status()
        answer = response.json()
        ctx.console.print(
            f"[green]ALLOW[/green] {COUNCIL}: {answer['count']:,} households in its area meet "
            f"{answer['min_factors']} or more factors (decisions {', '.join(map(str, answer['decision_ids']))}; "
            f"data read: {', '.join(answer['sources'])})", highlight=False)
        for household in answer["households"][:2]:
            reference = household["reference"]
            titles = "; ".join(factors[name].title for name in household["factors"])
            ctx.console.print(f"  UPRN {reference.get('uprn')} (council tax {', '.join(reference.get('account_refs', []))}): "
                              f"{titles}", highlight=False)
        refused = http.post(URL, json={"agreement": AGREEMENT}, headers={
            "Authorization": f"Bearer {ctx.token('brightwatt-energy')}"})
        reasons = "; ".join(refused.json().get("reasons", []))
        ctx.console.print(f"[red]DENY[/red] brightwatt-energy asks under the same agreement -> {refused.status_code}, "
                          f"recorded: {reasons}", highlight=False)
    person = _offer_a_named_person(ctx, response.headers.get("x-request-id", answer["request_id"]))
    if person:
        ctx.console.print(f"  {person} is named in the request: sign in as them at {ctx.url}/citizen to see it.",
                          highlight=False)


def _offer_a_named_person(ctx, request_id: str) -> str | None:  # noqa: ANN001
    """A synthetic person the request named (under any key their identity resolves to), offered at sign-in."""
    with ctx.hub.transaction() as session:
        keys = set(session.scalars(
            select(AuditSubject.person_key).join(AuditEntry, AuditEntry.id == AuditSubject.entry_id)
            .where(AuditEntry.request_id == request_id)))
    persons = pq.read_table(Path(ctx.synth_dir) / "truth" / "population" / "persons.parquet",
                            columns=["first_name", "surname", "nino", "date_of_birth", "date_of_death"])
    persons = persons.filter(pc.and_(pc.is_valid(persons["nino"]), pc.is_null(persons["date_of_death"])))
    for row in persons.select(["first_name", "surname", "nino", "date_of_birth"]).to_pylist():
        person = citizens.DemoCitizen(f"{row['first_name']} {row['surname']}", row["nino"], row["first_name"],
                                      row["surname"], row["date_of_birth"].isoformat())
        if set(person.keys(ctx.hub)) & keys:
            citizens.add_demo_citizen(ctx.hub.settings.data_dir, person)
            return person.name
    return None
