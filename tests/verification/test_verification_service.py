"""The verification service on synthetic data: grades, refusals, audit subjects and the holding's index."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sqlalchemy import select
from verification_support import AGREEMENT, ERO, Person, activate_narrow_agreement, counts

from accord.clock import utcnow
from accord.demo.seed import example_agreements
from accord.errors import InvalidInput, NotFound
from accord.linkage.standardise import standardise_nino
from accord.registry import agreements, lifecycle
from accord.runtime import Hub
from accord.services import citizens, holdings, verification
from accord.storage.models import AuditEntry, DecisionRecord

ALL_FIELDS = ["nino", "first_name", "surname", "dob", "postcode"]


def check(hub: Hub, details: dict, body_id: str = ERO, agreement_id: str = AGREEMENT, reference: str | None = "r1"):  # noqa: ANN201
    return verification.check(hub, body_id=body_id, officer="test officer", agreement_id=agreement_id,
                              applications=[(reference, details)], request_id="test", now=utcnow())


def audit_entries(hub: Hub) -> list[dict]:
    with hub.transaction() as session:
        return [json.loads(e.payload) for e in session.scalars(select(AuditEntry).order_by(AuditEntry.id))]


# ------------------------------------------------------------------ grades


def test_exact_details_with_nino_match_on_every_field(loaded: Hub, people: list[Person]) -> None:
    person = people[0]
    outcome = check(loaded, person.details())
    assert outcome.allowed
    assert [r.public() for r in outcome.results] == [{"reference": "r1", "grade": "match", "agreed": ALL_FIELDS}]


def test_without_nino_names_dob_and_postcode_still_match(loaded: Hub, people: list[Person]) -> None:
    outcome = check(loaded, people[1].details(nino=None))
    assert outcome.results[0].grade == "match"
    assert outcome.results[0].agreed == ("first_name", "surname", "dob", "postcode")


def test_a_new_surname_and_address_is_partial_and_a_stranger_at_the_address_is_no_match(
    loaded: Hub, people: list[Person]
) -> None:
    person = people[2]
    married_and_moved = person.details(nino=None, surname="Quillfeather", postcode=people[3].postcode)
    result = check(loaded, married_and_moved).results[0]
    assert (result.grade, result.agreed) == ("partial", ("first_name", "dob"))
    stranger = {"first_name": "Zebedee", "surname": "Quillfeather", "dob": "1950-01-01", "postcode": person.postcode}
    result = check(loaded, stranger).results[0]
    assert (result.grade, result.agreed) == ("no match", ("postcode",))


def test_input_forms_are_standardised_before_matching(loaded: Hub, people: list[Person]) -> None:
    person = people[4]
    shouted = person.details(first_name=f"  Mr {person.first_name.upper()}", surname=person.surname.lower(),
                             dob=person.dob.strftime("%d/%m/%Y"), postcode=person.postcode.replace(" ", "").lower(),
                             nino=" ".join([person.nino[:2], person.nino[2:4], person.nino[4:6], person.nino[6:8],
                                            person.nino[8]]))
    assert check(loaded, shouted).results[0].public()["agreed"] == ALL_FIELDS


def test_synthetic_applications_never_match_fictitious_people(loaded: Hub, synth: Path) -> None:
    """Every council's registration applications checked in batches against DWP, graded against the answer key."""
    apps = pa.concat_tables([pq.read_table(p) for p in sorted(synth.glob("*-registration-applications.parquet"))])
    truth = pa.concat_tables([pq.read_table(p) for p in sorted((synth / "truth").glob("*-registration-applications.parquet"))])
    person_of = dict(zip(truth["record_id"].to_pylist(), truth["person_id"].to_pylist()))
    dwp_truth = pq.read_table(synth / "truth" / "dwp-benefits.parquet")
    on_dwp = set(dwp_truth["person_id"].to_pylist())
    rows = [r for r in apps.to_pylist() if r["first_name"] and r["surname"] and r["date_of_birth"] and r["postcode"]]
    assert len(rows) >= 100
    applications = [
        (r["record_id"], {"first_name": r["first_name"], "surname": r["surname"], "dob": r["date_of_birth"],
                          "postcode": r["postcode"], **({"nino": r["nino"]} if standardise_nino(r["nino"]) else {})})
        for r in rows
    ]
    outcome = verification.check(loaded, body_id=ERO, officer="batch", agreement_id=AGREEMENT,
                                 applications=applications, request_id="batch", now=utcnow())
    grades = {r.reference: r.grade for r in outcome.results}
    assert len(grades) == len(rows)
    matched = [ref for ref, grade in grades.items() if grade == "match"]
    fictitious = [ref for ref in grades if person_of[ref] is None]
    assert fictitious, "the synthetic applications include people who do not exist"
    assert not [ref for ref in fictitious if grades[ref] == "match"]
    # a match is always someone DWP holds; most people DWP holds who give their NINO are matched
    assert all(person_of[ref] in on_dwp for ref in matched)
    findable = [r["record_id"] for r in rows if standardise_nino(r["nino"]) and person_of[r["record_id"]] in on_dwp]
    assert len(findable) >= 20
    recall = sum(grades[ref] == "match" for ref in findable) / len(findable)
    assert recall >= 0.9, recall


# ------------------------------------------------------------------ only permitted fields


def test_fields_outside_the_agreement_are_never_compared(loaded: Hub, people: list[Person]) -> None:
    # An agreement naming only surname and date of birth: the NINO given is not compared or recorded.
    activate_narrow_agreement(loaded, ["surname", "date_of_birth"])
    outcome = check(loaded, people[5].details(), agreement_id="narrow-verification")
    assert outcome.allowed
    assert outcome.results[0].agreed == ("surname", "dob")
    assert outcome.results[0].grade == "partial"  # a surname and date of birth alone never make a match
    with loaded.transaction() as session:
        record = session.get(DecisionRecord, outcome.decision_id)
        assert record.fields_permitted == ["surname", "date_of_birth"]
        assert set(record.fields_requested) == {"nino", "first_name", "surname", "date_of_birth", "postcode"}


# ------------------------------------------------------------------ refusals, all recorded


def _agreement_in(hub: Hub, status: str) -> str:
    spec = next(s for _, s in example_agreements() if s.id == AGREEMENT).model_copy(update={"id": f"erv-{status}"})
    now = utcnow()
    with hub.transaction() as session:
        agreement = agreements.create_draft(session, hub.framework, spec, "accord-hub", now - timedelta(weeks=11))
        lifecycle.transition(session, hub.framework, agreement, "consultation", actor="t", now=now - timedelta(weeks=10))
        if status != "consultation":
            lifecycle.transition(session, hub.framework, agreement, "active", actor="t", now=now)
            lifecycle.transition(session, hub.framework, agreement, status, actor="t", now=now, reason="review")
    return spec.id


@pytest.mark.parametrize(
    "case",
    ["wrong party", "no such agreement", "consultation", "suspended"],
)
def test_refusals_are_decided_recorded_and_audited_with_the_applicant(loaded: Hub, people: list[Person], case: str) -> None:
    person = people[6]
    body, agreement_id, reason = ERO, AGREEMENT, ""
    if case == "wrong party":
        body, reason = "brightwatt-energy", "not the agreement named"
    elif case == "no such agreement":
        agreement_id, reason = "no-such-agreement", "no agreement names"
    else:
        agreement_id = _agreement_in(loaded, case)
        reason = f"is {case}, not active"
    before = audit_entries(loaded)
    outcome = check(loaded, person.details(), body_id=body, agreement_id=agreement_id)
    assert not outcome.allowed and outcome.results == ()
    assert any(reason in r for r in outcome.decision.reasons), outcome.decision.reasons
    with loaded.transaction() as session:
        record = session.get(DecisionRecord, outcome.decision_id)
        assert (record.allowed, record.action, record.body_id) == (False, "identity.verify", body)
    new = audit_entries(loaded)[len(before):]
    assert len(new) == 1
    entry = new[0]
    assert (entry["outcome"], entry["action"], entry["kind"]) == ("deny", "identity.verify", "access.decision")
    assert entry["subjects"] == [loaded.person_key("nino", person.nino)]


def test_a_source_without_records_is_not_found_and_nothing_is_recorded(hub: Hub, people: list[Person]) -> None:
    from verification_support import seed

    seed(hub)  # the register only: DWP has loaded nothing
    before = counts(hub)
    with pytest.raises(NotFound, match="no records loaded"):
        check(hub, people[0].details())
    assert counts(hub) == before


def test_bad_details_name_each_field_and_record_nothing(loaded: Hub) -> None:
    before = counts(loaded)
    with pytest.raises(InvalidInput) as caught:
        check(loaded, {"first_name": "", "surname": "123", "dob": "31/02/1990", "postcode": "NOT A POSTCODE",
                       "nino": "XX", "shoe_size": "9"})
    problems = " | ".join(caught.value.problems)
    for field in ("first_name", "surname", "dob", "postcode", "nino", "shoe_size"):
        assert f"applicant.{field}:" in problems
    assert "NOT A POSTCODE" not in problems  # values are never echoed
    with pytest.raises(InvalidInput, match="future"):
        tomorrow = (utcnow() + timedelta(days=2)).date().isoformat()
        check(loaded, {"first_name": "A", "surname": "B", "dob": tomorrow, "postcode": "SW1A 1AA"})
    assert counts(loaded) == before


# ------------------------------------------------------------------ who the audit names


def test_the_applicant_sees_the_check_on_their_citizen_page(loaded: Hub, people: list[Person]) -> None:
    person = people[7]
    outcome = check(loaded, person.details())
    entries = citizens.accesses(loaded, loaded.person_key("nino", person.nino), utcnow())
    assert len(entries) == 1
    entry = entries[0]
    assert (entry["body_id"], entry["agreement_id"], entry["dataset_id"], entry["outcome"]) == (
        ERO, AGREEMENT, "dwp-benefits", "allow")
    assert set(entry["fields"]) == {"nino", "first_name", "surname", "date_of_birth", "postcode"}
    assert outcome.allowed


def test_without_a_nino_the_applicant_key_is_recomputable_and_the_matched_person_is_named(
    loaded: Hub, people: list[Person]
) -> None:
    person = people[8]
    details = person.details(nino=None, first_name=person.first_name.upper())
    before = len(audit_entries(loaded))
    outcome = check(loaded, details)
    assert outcome.results[0].grade == "match"
    new = audit_entries(loaded)[before:]
    identity = "|".join([person.surname.lower(), person.first_name.lower(), person.dob.isoformat(), person.postcode])
    applicant_key = loaded.person_key("applicant-identity", identity)
    assert [e["kind"] for e in new] == ["access.decision", "verification.match"]
    assert new[0]["subjects"] == [applicant_key]
    assert new[1]["subjects"] == [loaded.person_key("nino", person.nino)]
    assert new[1]["request_id"] == new[0]["request_id"] and new[1]["agreement_id"] == AGREEMENT
    # the person whose DWP record was used sees the check
    seen = citizens.accesses(loaded, loaded.person_key("nino", person.nino), utcnow())
    assert [e["agreement_id"] for e in seen] == [AGREEMENT]


def test_a_no_match_names_nobody_else(loaded: Hub, people: list[Person]) -> None:
    before = len(audit_entries(loaded))
    check(loaded, {"first_name": "Zebedee", "surname": "Quillfeather", "dob": "1950-01-01",
                   "postcode": people[0].postcode})
    assert [e["kind"] for e in audit_entries(loaded)[before:]] == ["access.decision"]


# ------------------------------------------------------------------ the blocking index


def test_the_index_is_built_once_per_holding_version(loaded: Hub, synth: Path, people: list[Person], tmp_path: Path) -> None:
    person = people[9]
    builds = verification.INDEXES.builds
    assert check(loaded, person.details()).results[0].grade == "match"
    assert check(loaded, people[10].details()).results[0].grade == "match"
    assert verification.INDEXES.builds == builds + 1  # the second check reused the index
    # DWP loads a new extract without this person: the next check sees it at once
    table = pq.read_table(synth / "dwp-benefits.parquet")
    kept = table.filter(pa.compute.not_equal(table["record_id"], person.record_id))
    smaller = tmp_path / "dwp-benefits.parquet"
    pq.write_table(kept, smaller)
    holdings.load_holding(loaded, "dwp-benefits", smaller)
    assert check(loaded, person.details()).results[0].grade != "match"
    assert verification.INDEXES.builds == builds + 2
    assert check(loaded, people[10].details()).results[0].grade == "match"
    assert verification.INDEXES.builds == builds + 2


def test_a_check_compares_a_handful_of_records_not_the_holding(loaded: Hub, people: list[Person]) -> None:
    person = people[11]
    index = verification.INDEXES.get(loaded, "dwp-benefits", {"nino": "nino", "first_name": "first_name",
                                                              "surname": "surname", "dob": "date_of_birth",
                                                              "postcode": "postcode"})
    applicant = verification.standardise_applicant(person.details())
    rows = index.candidate_rows(applicant)
    assert 1 <= len(rows) < index.rows / 20
    assert person.record_id in {c["id"] for c in index.candidates(applicant, ["nino"])}
