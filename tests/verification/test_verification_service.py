"""The verification service on synthetic data: grades, refusals, audit subjects and the holding's index."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from accord_testing import add_agreement, example_spec
from accord_testing import count_rows as counts
from sqlalchemy import select
from verification_support import AGREEMENT, ERO, Person, activate_narrow_agreement

from accord.clock import utcnow
from accord.errors import InvalidInput, NotFound
from accord.linkage.standardise import standardise_nino
from accord.registry import agreements, lifecycle
from accord.runtime import Hub
from accord.services import citizens, holdings, subjects, verification
from accord.services.access import AccessRequest, Grant, ask
from accord.services.unit_of_work import Actor, Reply
from accord.services.verification import matching
from accord.services.verification.target import resolve
from accord.storage.models import AuditEntry, DecisionRecord

ALL_FIELDS = ["nino", "first_name", "surname", "dob", "postcode"]


def check(hub: Hub, details: dict, body_id: str = ERO, agreement_id: str = AGREEMENT,
          reference: str | None = "r1") -> Reply:
    actor = Actor(body_id, "test officer", "test")
    return verification.check(hub, actor, verification.CheckRequest(agreement_id, ((reference, details),)))


def results(reply: Reply) -> list[verification.Result]:
    assert reply.status == 200 and reply.body["decision"] == "allow", reply.body
    return verification.results_of(reply.body)


def audit_entries(hub: Hub) -> list[dict]:
    with hub.transaction() as session:
        return [json.loads(e.payload) for e in session.scalars(select(AuditEntry).order_by(AuditEntry.id))]


# ------------------------------------------------------------------ grades


def test_exact_details_with_nino_match_on_every_field(loaded: Hub, people: list[Person]) -> None:
    person = people[0]
    reply = check(loaded, person.details())
    assert reply.ok and not reply.replayed
    assert [r.public() for r in results(reply)] == [{"reference": "r1", "grade": "match", "agreed": ALL_FIELDS}]
    assert reply.body["count"] == 1 and reply.body["agreement_id"] == AGREEMENT
    assert not set(person.values()) & set(json.dumps(reply.body).split('"'))  # the record never leaves the hub


def test_without_nino_names_dob_and_postcode_still_match(loaded: Hub, people: list[Person]) -> None:
    result = results(check(loaded, people[1].details(nino=None)))[0]
    assert result.grade == "match"
    assert result.agreed == ("first_name", "surname", "dob", "postcode")


def test_a_new_surname_and_address_is_partial_and_a_stranger_at_the_address_is_no_match(
    loaded: Hub, people: list[Person]
) -> None:
    person = people[2]
    married_and_moved = person.details(nino=None, surname="Quillfeather", postcode=people[3].postcode)
    result = results(check(loaded, married_and_moved))[0]
    assert (result.grade, result.agreed) == ("partial", ("first_name", "dob"))
    stranger = {"first_name": "Zebedee", "surname": "Quillfeather", "dob": "1950-01-01", "postcode": person.postcode}
    result = results(check(loaded, stranger))[0]
    assert (result.grade, result.agreed) == ("no match", ("postcode",))


def test_input_forms_are_standardised_before_matching(loaded: Hub, people: list[Person]) -> None:
    person = people[4]
    shouted = person.details(first_name=f"  Mr {person.first_name.upper()}", surname=person.surname.lower(),
                             dob=person.dob.strftime("%d/%m/%Y"), postcode=person.postcode.replace(" ", "").lower(),
                             nino=" ".join([person.nino[:2], person.nino[2:4], person.nino[4:6], person.nino[6:8],
                                            person.nino[8]]))
    assert results(check(loaded, shouted))[0].public()["agreed"] == ALL_FIELDS


def test_synthetic_applications_never_match_fictitious_people(loaded: Hub, synth: Path) -> None:
    """Every council's registration applications checked in batches against DWP, graded against the answer key."""
    apps = pa.concat_tables([pq.read_table(p) for p in sorted(synth.glob("*-registration-applications.parquet"))])
    truth = pa.concat_tables([pq.read_table(p) for p in sorted((synth / "truth").glob("*-registration-applications.parquet"))])
    person_of = dict(zip(truth["record_id"].to_pylist(), truth["person_id"].to_pylist()))
    dwp_truth = pq.read_table(synth / "truth" / "dwp-benefits.parquet")
    on_dwp = set(dwp_truth["person_id"].to_pylist())
    rows = [r for r in apps.to_pylist() if r["first_name"] and r["surname"] and r["date_of_birth"] and r["postcode"]]
    assert len(rows) >= 100
    applications = tuple(
        (r["record_id"], {"first_name": r["first_name"], "surname": r["surname"], "dob": r["date_of_birth"],
                          "postcode": r["postcode"], **({"nino": r["nino"]} if standardise_nino(r["nino"]) else {})})
        for r in rows
    )
    reply = verification.check(loaded, Actor(ERO, "batch", "batch"), verification.CheckRequest(AGREEMENT, applications))
    grades = {r.reference: r.grade for r in results(reply)}
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
    reply = check(loaded, people[5].details(), agreement_id="narrow-verification")
    result = results(reply)[0]
    assert result.agreed == ("surname", "dob")
    assert result.grade == "partial"  # a surname and date of birth alone never make a match
    with loaded.transaction() as session:
        record = session.get(DecisionRecord, reply.body["decision_id"])
        assert record.fields_permitted == ["surname", "date_of_birth"]
        assert set(record.fields_requested) == {"nino", "first_name", "surname", "date_of_birth", "postcode"}


# ------------------------------------------------------------------ refusals, all recorded


def _agreement_in(hub: Hub, status: str) -> str:
    agreement_id = add_agreement(hub, example_spec(AGREEMENT, id=f"erv-{status}"),
                                 "consultation" if status == "consultation" else "active")
    if status not in ("consultation", "active"):
        with hub.transaction() as session:
            agreement = agreements.get_agreement(session, agreement_id)
            lifecycle.transition(session, hub.framework, agreement, status, actor="t", now=utcnow(), reason="review")
    return agreement_id


@pytest.mark.parametrize(
    "case",
    ["wrong party", "no such agreement", "consultation", "suspended"],
)
def test_refusals_are_decided_recorded_and_audited_naming_nobody(loaded: Hub, people: list[Person], case: str) -> None:
    """A refused check reads no record, so it matched no one: its entry names nobody (never the details typed)."""
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
    reply = check(loaded, person.details(), body_id=body, agreement_id=agreement_id)
    assert reply.status == 403 and reply.body["decision"] == "deny" and "results" not in reply.body
    assert "grade" not in reply.body
    assert any(reason in r for r in reply.body["reasons"]), reply.body["reasons"]
    assert "recorded" in reply.body["detail"]
    with loaded.transaction() as session:
        record = session.get(DecisionRecord, reply.body["decision_id"])
        assert (record.allowed, record.action, record.body_id) == (False, "identity.verify", body)
    new = audit_entries(loaded)[len(before):]
    assert len(new) == 1
    entry = new[0]
    assert (entry["outcome"], entry["action"], entry["kind"]) == ("deny", "identity.verify", "access.decision")
    assert entry["request_id"] == "test" and entry["body_id"] == body
    assert entry["subjects"] == []
    assert loaded.person_key("nino", person.nino) not in json.dumps(entry)


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
    reply = check(loaded, person.details())
    entries = citizens.accesses(loaded, (loaded.person_key("nino", person.nino),), utcnow())
    assert len(entries) == 1
    entry = entries[0]
    assert (entry["body_id"], entry["agreement_id"], entry["dataset_id"], entry["outcome"]) == (
        ERO, AGREEMENT, "dwp-benefits", "allow")
    assert set(entry["fields"]) == {"nino", "first_name", "surname", "date_of_birth", "postcode"}
    assert reply.ok


def test_without_a_nino_the_matched_record_names_the_person_once(loaded: Hub, people: list[Person]) -> None:
    """The subject is the matched DWP record's own subject key (its NINO's), whatever the applicant typed."""
    person = people[8]
    details = person.details(nino=None, first_name=person.first_name.upper())
    before = len(audit_entries(loaded))
    reply = check(loaded, details)
    assert results(reply)[0].grade == "match"
    new = audit_entries(loaded)[before:]
    assert [e["kind"] for e in new] == ["access.decision"]  # one entry: no separate "verification.match"
    assert new[0]["subjects"] == [loaded.person_key("nino", person.nino)]
    assert new[0]["request_id"] == "test" and new[0]["agreement_id"] == AGREEMENT
    with loaded.transaction() as session:
        assert session.get(DecisionRecord, reply.body["decision_id"]).records == 1
    # the person whose DWP record was used sees the check
    seen = citizens.accesses(loaded, (loaded.person_key("nino", person.nino),), utcnow())
    assert [e["agreement_id"] for e in seen] == [AGREEMENT]


def test_the_subject_is_the_matched_record_never_what_the_applicant_typed(
    loaded: Hub, synth: Path, people: list[Person], tmp_path: Path
) -> None:
    """A DWP record without a NINO is named by its own names and date of birth, even when the applicant gave one."""
    person = people[15]
    table = pq.read_table(synth / "dwp-benefits.parquet")
    without = pa.compute.equal(table["record_id"], person.record_id)
    table = table.set_column(table.column_names.index("nino"), "nino",
                             pa.compute.if_else(without, pa.scalar(None, pa.string()), table["nino"]))
    extract = tmp_path / "dwp-benefits.parquet"
    pq.write_table(table, extract)
    holdings.load_holding(loaded, "dwp-benefits", extract)
    before = len(audit_entries(loaded))
    reply = check(loaded, person.details())  # the applicant gives their NINO; the record holds none
    assert results(reply)[0].grade == "match"
    [entry] = audit_entries(loaded)[before:]
    record_key = subjects.subject_key(loaded, first_name=person.first_name, surname=person.surname, dob=person.dob)
    assert entry["subjects"] == [record_key]
    assert loaded.person_key("nino", person.nino) not in entry["subjects"]
    # the person, signed in with their verified identity, sees the check under that key
    seen = citizens.accesses(loaded, subjects.identity_keys(loaded, nino=person.nino, first_name=person.first_name,
                                                            surname=person.surname, dob=person.dob), utcnow())
    assert [e["agreement_id"] for e in seen] == [AGREEMENT]


def test_a_no_match_names_nobody(loaded: Hub, people: list[Person]) -> None:
    before = len(audit_entries(loaded))
    reply = check(loaded, {"first_name": "Zebedee", "surname": "Quillfeather", "dob": "1950-01-01",
                           "postcode": people[0].postcode})
    assert results(reply)[0].grade == "no match"
    new = audit_entries(loaded)[before:]
    assert [(e["kind"], e["outcome"]) for e in new] == [("access.decision", "allow")]
    assert new[0]["subjects"] == []


def test_a_partial_names_nobody_and_a_batch_names_each_matched_person(loaded: Hub, people: list[Person]) -> None:
    """Only a match says whose record it was; a batch's one entry names every person it matched, once."""
    first, second, partial = people[12], people[13], people[14]
    applications = (("a", first.details()), ("b", second.details(nino=None)), ("c", first.details()),
                    ("d", partial.details(nino=None, surname="Quillfeather", postcode=people[3].postcode)))
    before = len(audit_entries(loaded))
    reply = verification.check(loaded, Actor(ERO, "batch", "batch-1"), verification.CheckRequest(AGREEMENT, applications))
    assert [r.grade for r in results(reply)] == ["match", "match", "match", "partial"]
    new = audit_entries(loaded)[before:]
    assert [e["kind"] for e in new] == ["access.decision"]
    assert new[0]["subjects"] == [loaded.person_key("nino", first.nino), loaded.person_key("nino", second.nino)]


# ------------------------------------------------------------------ the blocking index


class _CountingIndex(matching.BlockingIndex):
    builds = 0

    def __init__(self, *args, **kwargs) -> None:  # noqa: ANN002, ANN003
        type(self).builds += 1
        super().__init__(*args, **kwargs)


def test_the_index_is_built_once_per_holding_version(loaded: Hub, synth: Path, people: list[Person], tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    person = people[9]
    monkeypatch.setattr(matching, "BlockingIndex", _CountingIndex)
    monkeypatch.setattr(_CountingIndex, "builds", 0)
    loaded.forget_caches()
    builds = _CountingIndex.builds
    assert results(check(loaded, person.details()))[0].grade == "match"
    assert results(check(loaded, people[10].details()))[0].grade == "match"
    assert _CountingIndex.builds == builds + 1  # the second check reused the index
    # DWP loads a new extract without this person: the next check sees it at once
    table = pq.read_table(synth / "dwp-benefits.parquet")
    kept = table.filter(pa.compute.not_equal(table["record_id"], person.record_id))
    smaller = tmp_path / "dwp-benefits.parquet"
    pq.write_table(kept, smaller)
    holdings.load_holding(loaded, "dwp-benefits", smaller)
    assert results(check(loaded, person.details()))[0].grade != "match"
    assert _CountingIndex.builds == builds + 2
    assert results(check(loaded, people[10].details()))[0].grade == "match"
    assert _CountingIndex.builds == builds + 2


def test_a_check_compares_a_handful_of_records_not_the_holding(loaded: Hub, people: list[Person]) -> None:
    person = people[11]
    with loaded.transaction() as session:
        target = resolve(session, ERO, False, AGREEMENT)
        grant = ask(session, AccessRequest(
            body_id=ERO, officer="test officer", action="identity.verify", dataset_id=target.dataset_id,
            purpose=target.purpose, fields=tuple(target.field_map.values()), agreement_id=AGREEMENT))
    assert isinstance(grant, Grant)
    assert dict(target.field_map) == {"nino": "nino", "first_name": "first_name", "surname": "surname",
                                      "dob": "date_of_birth", "postcode": "postcode"}
    index = matching.index_for(grant, target)
    assert index.rows >= 500
    applicant = verification.standardise_applicant(person.details())
    rows = index.candidate_rows(applicant)
    assert 1 <= len(rows) < index.rows / 20
    assert person.record_id in {c["id"] for c in index.candidates(applicant, ["nino"])}


def test_concurrent_checks_decided_in_the_shared_transaction_never_exceed_a_daily_limit(
    loaded: Hub, people: list[Person]
) -> None:
    """Once the index is built, a single check asks and matches in the write transaction's read phase,
    which concurrent checks share: the limit is still claimed one by one as each is recorded."""
    import threading

    from sqlalchemy import update

    from accord.storage.models import Agreement

    from accord.services.verification import intake
    from accord.services.verification.target import targets

    with loaded.transaction() as session:
        session.execute(update(Agreement).where(Agreement.id == AGREEMENT).values(max_requests_per_day=4))
    assert check(loaded, people[0].details()).status == 200  # builds the index, and takes the day's first place
    target = targets(loaded).get(loaded, ERO, False, AGREEMENT, None)
    applications = intake.applications(verification.CheckRequest(AGREEMENT, (("r", people[1].details()),)))
    assert matching.index_ready(loaded, target, matching.requested_fields(target, applications))
    replies: list[Reply] = []
    start = threading.Barrier(12)

    def one(n: int) -> None:
        start.wait()
        replies.append(check(loaded, people[n % len(people)].details(), reference=f"c{n}"))

    threads = [threading.Thread(target=one, args=(n,)) for n in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(reply.status for reply in replies) == [200] * 3 + [403] * 9, [r.status for r in replies]
    with loaded.transaction() as session:
        rows = list(session.scalars(select(DecisionRecord).where(DecisionRecord.action == "identity.verify")))
    assert sum(row.allowed for row in rows) == 4 and len(rows) == 13
