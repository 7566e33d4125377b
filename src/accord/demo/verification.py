"""Demo step: the Electoral Registration Officer checks applications against DWP's records, over HTTP.

Three synthetic people apply to register (their details as the population holds
them, one without a National Insurance number), then someone who does not
exist, and one of them again with the date of birth mistyped. Before the
checks, the agreement's probabilistic model is trained from the councils' past
registration applications (``accord verification train-model``); the cascade
alone would call the mistyped application partial, the model matches it. Each
check goes to ``POST /v1/verifications`` under
``electoral-registration-verification`` and comes back as a grade and the
names of the details that agreed. A body outside the agreement is refused, and
the refusal is recorded too.
"""

from __future__ import annotations

import uuid
from datetime import date

import httpx
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from accord.errors import NotFound
from accord.services import holdings, verification
from accord.services.unit_of_work import Actor

AGREEMENT = "electoral-registration-verification"
ERO = "northshire-ero"
SOURCE = "dwp-benefits"


def _ensure_holding(ctx) -> None:  # noqa: ANN001
    try:
        holdings.holding_info(ctx.hub, SOURCE)
    except NotFound:
        holdings.load_holding(ctx.hub, SOURCE, ctx.synth_dir / f"{SOURCE}.parquet")


def _applications(ctx) -> list[tuple[str, dict]]:  # noqa: ANN001
    """Each demo person's details as they would write them on an application, from the synthetic population."""
    population = ctx.synth_dir / "truth" / "population"
    persons = pq.read_table(population / "persons.parquet",
                            columns=["nino", "first_name", "middle_name", "surname", "date_of_birth", "uprn"])
    addresses = pq.read_table(population / "addresses.parquet", columns=["uprn", "address_line_1", "postcode"])
    chosen = persons.filter(pc.is_in(persons["nino"], value_set=pa.array([p.nino for p in ctx.people]))).to_pylist()
    by_nino = {row["nino"]: row for row in chosen}
    address_of = {row["uprn"]: row for row in addresses.filter(
        pc.is_in(addresses["uprn"], value_set=pa.array([r["uprn"] for r in chosen]))).to_pylist()}
    applications = []
    for number, person in enumerate(ctx.people):
        row = by_nino.get(person.nino)
        if row is None:
            continue
        address = address_of.get(row["uprn"], {})
        details = {"first_name": row["first_name"], "surname": row["surname"], "postcode": address.get("postcode"),
                   "address": address.get("address_line_1"), "middle_name": row["middle_name"],
                   "dob": row["date_of_birth"].strftime("%d/%m/%Y")}
        if number != 1:  # the second applicant leaves the NINO box empty
            details["nino"] = row["nino"]
        label = person.name + ("" if "nino" in details else " (no NINO given)")
        applications.append((label, {k: v for k, v in details.items() if v}))
    if applications:
        label, details = applications[0]
        born = date.fromisoformat("-".join(reversed(details["dob"].split("/"))))
        mistyped = born.replace(day=born.day + 1 if born.day < 28 else born.day - 1)
        typo = {key: value for key, value in details.items() if key != "nino"}
        typo["dob"] = mistyped.strftime("%d/%m/%Y")
        applications.append((f"{label.split(' (')[0]} (date of birth mistyped, no NINO)", typo))
        fake = {"first_name": "Zebedee", "surname": "Quillfeather", "dob": "01/04/1971",
                "postcode": applications[0][1]["postcode"]}
        applications.append(("Zebedee Quillfeather (does not exist)", fake))
    return applications


def _train_model(ctx) -> None:  # noqa: ANN001
    """The agreement's probabilistic model, from the councils' past registration applications."""
    past = sorted(ctx.synth_dir.glob("*-registration-applications.parquet"))
    if not past:
        return
    out = ctx.hub.settings.data_dir / "verification" / "past-applications.parquet"
    out.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.concat_tables([pq.read_table(path) for path in past]), out)
    clerk = Actor(ERO, "demo clerk, Northshire electoral services", f"demo-{uuid.uuid4().hex[:12]}")
    stored = verification.train_model(ctx.hub, clerk, agreement_id=AGREEMENT, applications=out,
                                      mapping={"dob": "date_of_birth"})
    ctx.console.print(f"Probabilistic model v{stored.version} for {AGREEMENT}, trained on "
                      f"{stored.model.training.get('left_rows', 0):,} past applications against DWP's records: "
                      "checks the cascade does not call a match go on to it.", highlight=False)


def run(ctx) -> None:  # noqa: ANN001 - accord.demo.context.DemoContext
    console = ctx.console
    console.rule("Electoral registration: checking applications against DWP records")
    _ensure_holding(ctx)
    _train_model(ctx)
    applications = _applications(ctx)
    headers = {"Authorization": f"Bearer {ctx.officer_token('demo|northshire-ero-clerk')}"}  # Pat Jones, a person
    with httpx.Client(base_url=ctx.url, timeout=30) as http:
        for number, (label, details) in enumerate(applications, start=1):
            response = http.post("/v1/verifications", headers=headers, json={
                "agreement": AGREEMENT, "reference": f"ER-{number:04d}", "applicant": details})
            answer = response.json()
            if response.status_code != 200:
                console.print(f"[red]{label}: {response.status_code}[/red] {answer.get('detail')}", highlight=False)
                continue
            colour = {"match": "green", "partial": "yellow"}.get(answer["grade"], "red")
            agreed = ", ".join(answer["agreed"]) or "nothing"
            console.print(f"{answer['reference']} {label}: [{colour}]{answer['grade']}[/{colour}] "
                          f"(agreed: {agreed})", highlight=False)
        # An energy supplier is not a party: refused, and the refusal recorded.
        supplier = {"Authorization": f"Bearer {ctx.token('brightwatt-energy')}"}
        if applications:
            refused = http.post("/v1/verifications", headers=supplier,
                                json={"agreement": AGREEMENT, "applicant": applications[0][1]})
            reasons = "; ".join(refused.json().get("reasons", [])) or refused.json().get("detail")
            console.print(f"brightwatt-energy tries the same check: {refused.status_code} refused ({reasons})",
                          highlight=False)
    console.print("The Electoral Registration Officer learns a grade and which details agreed, never DWP's record. Each check is in the "
                  "audit log: sign in at /citizen as one of the people above to see it.", highlight=False)
