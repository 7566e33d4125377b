"""The probabilistic stage: checks the cascade does not call a match, scored with the agreement's trained model.

Applications are made from DWP's own records with the mistakes people make on
forms (a mistyped date of birth or name, day and month swapped, a move), and
strangers at the same address (same surname and postcode, another given name
and date of birth). The truth is known, so the tests count what the model
raises and check that no stranger is matched and that a grade is never lowered.
"""

from __future__ import annotations

import glob
import random
from datetime import date, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from verification_support import AGREEMENT, ERO, Person, activate_narrow_agreement, dwp_people, make_client

from accord.linkage.index import BLOCKING_KEYS, BlockingIndex
from accord.runtime import Hub
from accord.services import verification
from accord.services.linkage_models import latest_model, store_model
from accord.services.unit_of_work import Actor
from accord.services.verification import matching

CLERK = Actor(ERO, "test officer", "t")

KINDS = ("dob-typo", "surname-typo", "first-name-typo", "day-month-swapped+surname-typo")


@pytest.fixture(scope="module")
def applications_file(synth: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The councils' past registration applications: what the model is trained on."""
    tables = [pq.read_table(path) for path in sorted(glob.glob(str(synth / "*-registration-applications.parquet")))]
    out = tmp_path_factory.mktemp("training") / "past-applications.csv"
    pacsv.write_csv(pa.concat_tables(tables), out)
    return out


@pytest.fixture
def trained(sqlite_hub: Hub, synth: Path, applications_file: Path) -> Hub:
    from verification_support import seed

    seed(sqlite_hub, synth)
    stored = verification.train_model(sqlite_hub, CLERK, agreement_id=AGREEMENT, applications=applications_file,
                                      mapping={"dob": "date_of_birth"})
    assert stored.version == 1
    assert set(stored.model.fields) == {"first_name", "surname", "dob", "postcode", "nino"}
    return sqlite_hub


def _typo(text: str, rng: random.Random) -> str:
    at = rng.randint(1, len(text) - 1)
    return text[:at] + ("e" if text[at] != "e" else "a") + text[at + 1:]


def _typo_date(day: date, rng: random.Random) -> date:
    text = day.isoformat()
    for _ in range(50):
        at = rng.choice([2, 3, 6, 8, 9])
        try:
            changed = date.fromisoformat(text[:at] + str(rng.randint(0, 9)) + text[at + 1:])
        except ValueError:
            continue
        if changed != day and changed < date.today():
            return changed
    return day + timedelta(days=1)


def _cases(people: list[Person]) -> list[tuple[str, dict, bool]]:
    """(reference, details, is this DWP person) for each person: one mistaken application and one stranger."""
    rng = random.Random(7)
    cases = []
    for number, person in enumerate(people):
        kind = KINDS[number % len(KINDS)]
        details = person.details(nino=None)
        if kind == "dob-typo":
            details["dob"] = _typo_date(person.dob, rng).isoformat()
        elif kind == "surname-typo":
            details["surname"] = _typo(person.surname, rng)
        elif kind == "first-name-typo":
            details["first_name"] = _typo(person.first_name, rng)
        else:
            if person.dob.day <= 12 and person.dob.day != person.dob.month:
                details["dob"] = date(person.dob.year, person.dob.day, person.dob.month).isoformat()
            details["surname"] = _typo(person.surname, rng)
        cases.append((f"{kind}/{number}", details, True))
        stranger = person.details(nino=None, first_name="Quentin", dob=date(1931 + number % 60, 1 + number % 12,
                                                                           1 + number % 28).isoformat())
        cases.append((f"stranger/{number}", stranger, False))
    return cases


def _check(hub: Hub, agreement_id: str, applications: list[tuple[str, dict]]) -> list[verification.Result]:
    reply = verification.check(hub, CLERK, verification.CheckRequest(agreement_id, tuple(applications)))
    assert reply.status == 200 and reply.body["decision"] == "allow", reply.body
    return verification.results_of(reply.body)


def _grades(hub: Hub, cases: list[tuple[str, dict, bool]]) -> dict[str, str]:
    return {result.reference: result.grade
            for result in _check(hub, AGREEMENT, [(ref, details) for ref, details, _ in cases])}


_RANK = {"match": 0, "partial": 1, "no match": 2}


def test_the_model_raises_mistaken_applications_to_match_and_matches_no_stranger(
    sqlite_hub: Hub, synth: Path, applications_file: Path
) -> None:
    from verification_support import seed

    seed(sqlite_hub, synth)
    people = [p for p in dwp_people(synth, limit=200) if p.first_name != "Quentin"]
    assert len(people) >= 100
    cases = _cases(people)
    before = _grades(sqlite_hub, cases)
    verification.train_model(sqlite_hub, CLERK, agreement_id=AGREEMENT, applications=applications_file,
                             mapping={"dob": "date_of_birth"})
    sqlite_hub.forget_caches()  # the model's version is looked up every couple of seconds; now, at once
    after = _grades(sqlite_hub, cases)

    mistaken = [ref for ref, _, real in cases if real]
    strangers = [ref for ref, _, real in cases if not real]
    assert all(_RANK[after[ref]] <= _RANK[before[ref]] for ref in before), "a grade was lowered"
    dob_typos = [ref for ref in mistaken if ref.startswith("dob-typo/")]
    assert {before[ref] for ref in dob_typos} == {"partial"}  # the cascade cannot tell a typo from another person
    matched_before = sum(before[ref] == "match" for ref in mistaken)
    matched_after = sum(after[ref] == "match" for ref in mistaken)
    assert matched_after >= 0.95 * len(mistaken), (matched_before, matched_after, len(mistaken))
    assert matched_after >= matched_before + 0.3 * len(mistaken)
    # a stranger sharing the surname and address is never matched by the model
    assert [ref for ref in strangers if after[ref] == "match" and before[ref] != "match"] == []


def test_a_check_with_the_model_answers_only_the_grade_and_agreed_fields(trained: Hub, synth: Path) -> None:
    person = dwp_people(synth)[3]
    api = make_client(trained)
    details = person.details(nino=None, dob=_typo_date(person.dob, random.Random(1)).isoformat())
    response = api.verify(details)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert set(answer) == {"reference", "grade", "agreed", "decision", "decision_id", "request_id", "agreement_id",
                           "decided_at"}
    assert answer["grade"] == "match"
    assert answer["agreed"] == ["first_name", "surname", "postcode"]  # the mistyped date did not agree
    text = response.text
    for value in person.values():
        assert value not in text


def test_fields_the_agreement_withholds_are_not_scored(trained: Hub, synth: Path, applications_file: Path) -> None:
    # An agreement naming only surname and date of birth, with a model of its own: the given name and postcode
    # are never compared, and on surname and date of birth alone the model is not sure enough to match.
    narrow = activate_narrow_agreement(trained, ["surname", "date_of_birth"])
    store_model(trained, narrow, latest_model(trained, AGREEMENT).model)
    for person in dwp_people(synth)[:10]:
        result = _check(trained, narrow, [("r", person.details())])[0]
        assert result.grade == "partial", person
        assert set(result.agreed) <= {"surname", "dob"}


def test_a_new_model_is_used_once_stored_and_an_unreadable_one_is_ignored(trained: Hub, synth: Path,
                                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    person = dwp_people(synth)[4]
    details = person.details(nino=None, dob=_typo_date(person.dob, random.Random(2)).isoformat())

    def grade() -> str:
        trained.forget_caches()
        return _check(trained, AGREEMENT, [("r", details)])[0].grade

    assert grade() == "match"
    # A model whose comparisons this version does not know (from an older Accord): the cascade alone answers.
    model = latest_model(trained, AGREEMENT).model
    model.comparisons["dob"] = model.comparisons["dob"][:2]
    store_model(trained, AGREEMENT, model)
    assert grade() == "partial"


def test_a_name_too_common_to_score_finds_no_candidates_by_name() -> None:
    from accord.linkage.standardise import standardise_table

    rows = [{"record_id": f"r{i}", "first_name": "John", "surname": "Smith", "dob": date(1950 + i, 1, 1),
             "postcode": f"LS{i + 1} 1AA"} for i in range(3)]
    table = standardise_table(rows, id_column="record_id").table
    index = BlockingIndex(table, BLOCKING_KEYS, max_name_block=matching.MAX_NAME_BLOCK)
    applicant = {"first_name": "john", "surname": "smith", "dob": date(1999, 9, 9), "postcode": "M1 1AA"}
    assert index.candidate_rows(applicant) == []  # no date of birth, postcode or NINO in common
    assert index.candidate_rows(applicant, matching.SECOND_STAGE_KEYS) == [0, 1, 2]
    index = BlockingIndex(table, BLOCKING_KEYS, max_name_block=2)
    assert index.candidate_rows(applicant, matching.SECOND_STAGE_KEYS) == []


# ------------------------------------------------------------------ training is a governed read


def _audit(hub: Hub) -> list[dict]:
    import json

    from sqlalchemy import select

    from accord.storage.models import AuditEntry

    with hub.transaction() as session:
        return [json.loads(e.payload) for e in session.scalars(select(AuditEntry).order_by(AuditEntry.id))]


def _decisions(hub: Hub) -> list:
    from sqlalchemy import select

    from accord.storage.models import DecisionRecord

    with hub.transaction() as session:
        return list(session.scalars(select(DecisionRecord).order_by(DecisionRecord.id)))


def test_training_is_decided_and_recorded_as_the_body_that_asks(sqlite_hub: Hub, synth: Path,
                                                                 applications_file: Path) -> None:
    """Training reads the whole holding: action linkage.train, decided for the party, recorded by count and commitment."""
    from verification_support import seed

    from accord.services.access import commitment
    from accord.services.holdings import SUBJECT, files

    seed(sqlite_hub, synth)
    before = len(_audit(sqlite_hub))
    stored = verification.train_model(sqlite_hub, CLERK, agreement_id=AGREEMENT, applications=applications_file,
                                      mapping={"dob": "date_of_birth"})
    assert stored.version == 1
    [decision] = _decisions(sqlite_hub)
    assert (decision.action, decision.body_id, decision.officer, decision.agreement_id, decision.allowed) == (
        "linkage.train", ERO, CLERK.officer, AGREEMENT, True)
    # one request, whose answer (a model) is about no record: the holding's people are committed to below
    assert (decision.dataset_id, decision.records, decision.request_id) == ("dwp-benefits", 1, CLERK.request_id)
    assert set(decision.fields_permitted) <= {"nino", "first_name", "surname", "date_of_birth", "postcode"}
    [entry] = _audit(sqlite_hub)[before:]
    assert (entry["kind"], entry["action"], entry["outcome"]) == ("access.decision", "linkage.train", "allow")
    # a bulk read names nobody one by one: how many people it covered, and a commitment to their keys
    assert entry["subjects"] == []
    keys = pq.read_table(files.current(sqlite_hub, "dwp-benefits"), columns=[SUBJECT]).column(SUBJECT)
    keys = keys.drop_null().to_pylist()
    assert entry["details"]["subjects"] == {"count": len(set(keys)), "sha256": commitment(keys)}


@pytest.mark.parametrize("who", ["the hub operator", "a body outside the agreement"])
def test_training_is_refused_and_recorded_for_anyone_but_a_party(sqlite_hub: Hub, synth: Path,
                                                                 applications_file: Path, who: str) -> None:
    from verification_support import seed

    from accord.errors import Forbidden

    seed(sqlite_hub, synth)
    actor = Actor("", "the operator", "op-1", is_admin=True) if who == "the hub operator" else \
        Actor("brightwatt-energy", "someone at brightwatt", "bw-1")
    before = len(_audit(sqlite_hub))
    with pytest.raises(Forbidden) as refused:
        verification.train_model(sqlite_hub, actor, agreement_id=AGREEMENT, applications=applications_file,
                                 mapping={"dob": "date_of_birth"})
    assert refused.value.problems, "the recorded reasons are given"
    [decision] = _decisions(sqlite_hub)
    assert (decision.action, decision.body_id, decision.allowed) == ("linkage.train", actor.body_id, False)
    assert str(decision.id) in refused.value.detail
    [entry] = _audit(sqlite_hub)[before:]
    assert (entry["kind"], entry["action"], entry["outcome"]) == ("access.decision", "linkage.train", "deny")
    assert entry["subjects"] == [] and entry["details"]["subjects"]["count"] == 0  # nothing was read
    assert latest_model(sqlite_hub, AGREEMENT) is None
