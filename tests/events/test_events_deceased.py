"""The deceased check: true only on a full match, nothing else disclosed, always decided and audited."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from accord_testing import add_agreement
from accord_testing import count_rows as counts
from events_support import EventsApi
from sqlalchemy import select

from accord.linkage.deterministic import MATCH, PARTIAL, verify
from accord.linkage.standardise import standardise_record
from accord.services import holdings
from accord.services.holdings import files as holding_files  # test-only: to leave no holding behind
from accord.services.subjects import subject_key
from accord.storage.models import AuditEntry, AuditSubject, Dataset, DatasetField, DecisionRecord

ANSWER_KEYS = {"deceased", "decision_id", "agreement_id", "decided_at", "request_id"}
DEAD = {"first_name": "Margaret", "surname": "Holloway", "date_of_birth": "1941-03-17"}


@pytest.fixture(autouse=True)
def no_deaths_holding(request: pytest.FixtureRequest) -> Iterator[None]:
    """The hub fixture keeps one data directory per database: leave no GRO holding behind."""
    hub = request.getfixturevalue("api" if "api" in request.fixturenames else "sqlite_api").hub

    def clear() -> None:
        for suffix in (".parquet", ".json"):
            (holding_files.directory(hub) / f"gro-deaths{suffix}").unlink(missing_ok=True)

    clear()
    yield
    clear()


def check(api: EventsApi, who: str = "dwp", **person: str):  # noqa: ANN201
    return api.client.post("/v1/deceased-checks", json=person, headers=api.auth(who))


def test_a_recorded_death_says_deceased_and_nothing_more(api: EventsApi) -> None:
    api.recorded(1)
    response = check(api, **DEAD)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert set(answer) == ANSWER_KEYS
    assert answer["deceased"] is True and answer["agreement_id"] == "gro-deaths-to-dwp"
    text = json.dumps(answer)
    for value in ("2026-11-18", "NE1 4ST", "D000001"):  # date of death, postcode, registration
        assert value not in text


def test_a_living_person_is_not_deceased(api: EventsApi) -> None:
    api.recorded(1)
    answer = check(api, first_name="Peter", surname="Okafor", date_of_birth="1980-06-02").json()
    assert answer["deceased"] is False and set(answer) == ANSWER_KEYS


def test_a_small_typo_still_matches_through_the_cascade(api: EventsApi) -> None:
    api.recorded(1)
    assert check(api, **{**DEAD, "first_name": "Margret"}).json()["deceased"] is True
    assert check(api, **{**DEAD, "date_of_birth": "1941-03-18"}).json()["deceased"] is False


def test_a_partial_match_does_not_say_deceased(api: EventsApi) -> None:
    api.recorded(1)
    sister = {**DEAD, "first_name": "Elizabeth"}  # same surname and date of birth, another person
    grade = verify(
        standardise_record({"first_name": "Elizabeth", "surname": "Holloway", "dob": "1941-03-17"}),
        [standardise_record({"first_name": "Margaret", "surname": "Holloway", "dob": "1941-03-17",
                             "postcode": "NE1 4ST"})],
    ).grade
    assert grade == PARTIAL  # the cascade calls it partial ...
    assert check(api, **sister).json()["deceased"] is False  # ... and partial is not deceased


def test_gros_deaths_holding_is_checked_too(api: EventsApi, tmp_path: Path) -> None:
    source = tmp_path / "deaths.csv"
    source.write_text(
        "registration_id,first_name,surname,date_of_birth,date_of_death,postcode\n"
        "DX1,Harold,Pemberton,1935-12-01,2026-10-02,LS6 2AB\n",
        encoding="utf-8",
    )
    holdings.load_holding(api.hub, "gro-deaths", source)
    person = {"first_name": "Harold", "surname": "Pemberton", "date_of_birth": "1935-12-01"}
    assert verify(standardise_record({**person, "dob": person["date_of_birth"]}),
                  [standardise_record({**person, "dob": "1935-12-01", "postcode": "LS6 2AB"})]).grade == MATCH
    assert check(api, **person).json()["deceased"] is True
    assert check(api, **{**person, "first_name": "Henry"}).json()["deceased"] is False


def _subjects_of(api: EventsApi, request_id: str) -> dict[str, list[str]]:
    """{audit entry action: the person keys it names} for the entries one request wrote."""
    with api.hub.transaction() as session:
        entries = session.scalars(select(AuditEntry).where(AuditEntry.request_id == request_id)).all()
        return {
            json.loads(e.payload)["action"]: sorted(session.scalars(
                select(AuditSubject.person_key).where(AuditSubject.entry_id == e.id)))
            for e in entries
        }


def test_each_check_is_decided_and_audited_naming_the_death_record_matched(api: EventsApi) -> None:
    nino = "JG103759A"
    api.recorded(1, subject={"nino": nino})  # GRO registered the death knowing the NINO
    answer = check(api, **DEAD).json()
    assert answer["deceased"] is True
    key = api.hub.person_key("nino", nino)
    with api.hub.transaction() as session:
        decision = session.get(DecisionRecord, answer["decision_id"])
        assert decision.action == "deceased.check" and decision.allowed and decision.dataset_id == "gro-deaths"
        # It asked to read only the fields holding the details given, and the date of death.
        assert decision.fields_permitted == ["first_name", "surname", "date_of_birth", "date_of_death"]
        entries = session.scalars(
            select(AuditEntry).join(AuditSubject, AuditSubject.entry_id == AuditEntry.id)
            .where(AuditSubject.person_key == key)
        ).all()
    # The person as the hub resolved them (the death record's key), not as the requester typed them.
    assert sorted(json.loads(e.payload)["action"] for e in entries) == ["deceased.check", "events.record"]
    assert _subjects_of(api, answer["request_id"]) == {"deceased.check": [key]}
    check_entry = next(e for e in entries if json.loads(e.payload)["action"] == "deceased.check")
    assert nino not in check_entry.payload and "Holloway" not in check_entry.payload


def test_a_typed_nino_names_no_one_unless_a_death_record_matches(api: EventsApi) -> None:
    """gro-deaths registers no NINO: one given is not read, and never becomes the check's subject."""
    nino = "JG103759A"
    api.recorded(1)
    living = check(api, first_name="Peter", surname="Okafor", date_of_birth="1980-06-02", nino=nino).json()
    assert living["deceased"] is False
    assert _subjects_of(api, living["request_id"]) == {"deceased.check": []}
    dead = check(api, **DEAD, nino=nino).json()
    assert dead["deceased"] is True
    # The death was registered without a NINO: its key is over names and date of birth.
    expected = subject_key(api.hub, first_name="Margaret", surname="Holloway", dob="1941-03-17")
    assert expected != api.hub.person_key("nino", nino)
    assert _subjects_of(api, dead["request_id"]) == {"deceased.check": [expected]}
    with api.hub.transaction() as session:
        fields = session.get(DecisionRecord, dead["decision_id"]).fields_permitted
    assert "nino" not in fields and "postcode" not in fields


def test_a_postcode_the_agreement_does_not_name_is_refused_and_recorded(api: EventsApi) -> None:
    """gro-deaths registers a postcode but gro-deaths-to-dwp (on_excess_fields: deny) does not name it."""
    api.recorded(1)
    body = api.problem(check(api, **DEAD, postcode="NE1 4ST"), 403, "postcode")
    assert "deceased" not in body
    assert _subjects_of(api, body["request_id"]) == {"deceased.check": []}
    with api.hub.transaction() as session:
        refusal = session.get(DecisionRecord, body["decision_id"])
    assert refusal.body_id == "dwp" and not refusal.allowed and refusal.action == "deceased.check"
    assert refusal.agreement_id == "gro-deaths-to-dwp"
    assert check(api, **DEAD).json()["deceased"] is True  # without the postcode, the same check is allowed


def _register_death_ninos(api: EventsApi) -> None:
    """GRO's deaths dataset registers a NINO field (as a register of deaths may)."""
    with api.hub.transaction() as session:
        dataset = session.get(Dataset, "gro-deaths")
        dataset.fields.append(DatasetField(name="nino", position=len(dataset.fields), category="direct_identifier",
                                           type="code"))


def test_a_nino_on_a_dataset_that_registers_one_needs_the_agreement_to_name_it(api: EventsApi,
                                                                                tmp_path: Path) -> None:
    _register_death_ninos(api)
    nino = "JG103759A"
    source = tmp_path / "deaths.csv"
    source.write_text(
        "registration_id,first_name,surname,date_of_birth,date_of_death,postcode,nino\n"
        f"DX1,Harold,Pemberton,1935-12-01,2026-10-02,LS6 2AB,{nino}\n",
        encoding="utf-8",
    )
    holdings.load_holding(api.hub, "gro-deaths", source)
    person = {"first_name": "Harold", "surname": "Pemberton", "date_of_birth": "1935-12-01"}

    # gro-deaths-to-dwp does not name nino: a check given one would read it, so it is refused.
    body = api.problem(check(api, **person, nino=nino), 403, "nino")
    with api.hub.transaction() as session:
        refusal = session.get(DecisionRecord, body["decision_id"])
    assert not refusal.allowed and refusal.action == "deceased.check"
    assert check(api, **person).json()["deceased"] is True  # without the NINO it is allowed

    # Under an agreement that names it, the check reads and matches on it, naming the holding's person.
    add_agreement(api.hub, {
        "id": "gro-deaths-ninos-to-dwp",
        "name": "Deaths with NINOs to DWP",
        "gateway": "civil_registration",
        "purpose": "Tell DWP of registered deaths so that benefit payments and letters stop promptly.",
        "benefits": "Bereaved families are not sent letters addressed to the deceased.",
        "disclosers": ["gro"],
        "recipients": ["dwp"],
        "data": [{"dataset": "gro-deaths", "fields": ["first_name", "surname", "date_of_birth", "date_of_death",
                                                      "nino"]}],
        "sharing_method": "Deceased checks through the Accord hub.",
        "retention": "P1Y",
        "start_date": "2026-01-01",
        "end_date": "2028-12-31",
        "contact": "gro.sharing@gro.example",
        "areas": ["England"],
        "on_excess_fields": "deny",
    })
    answer = check(api, **person, nino=nino).json()
    assert answer["deceased"] is True and answer["agreement_id"] == "gro-deaths-ninos-to-dwp"
    with api.hub.transaction() as session:
        assert "nino" in session.get(DecisionRecord, answer["decision_id"]).fields_permitted
    assert _subjects_of(api, answer["request_id"]) == {"deceased.check": [api.hub.person_key("nino", nino)]}
    other = check(api, **person, nino="AB123456C").json()  # another person's NINO: no full match
    assert other["deceased"] is False
    assert _subjects_of(api, other["request_id"]) == {"deceased.check": []}


def test_a_body_without_an_agreement_is_refused_and_the_refusal_recorded(api: EventsApi) -> None:
    api.token("hmrc")
    body = api.problem(check(api, "hmrc", **DEAD), 403, "no agreement")
    assert "deceased" not in body
    with api.hub.transaction() as session:
        refusal = session.get(DecisionRecord, body["decision_id"])
    assert refusal.body_id == "hmrc" and not refusal.allowed and refusal.action == "deceased.check"


@pytest.mark.parametrize(
    ("change", "mentions"),
    [
        ({"date_of_birth": "2999-01-01"}, "date_of_birth"),
        ({"date_of_birth": "17/03/1941"}, "date_of_birth"),
        ({"nino": "not-a-nino"}, "national insurance"),
        ({"surname": None}, "surname"),
        ({"surname": ""}, "surname"),
        ({"date_of_death": "2026-01-01"}, "date_of_death"),
        ({"first_name": "x" * 101}, "first_name"),
    ],
)
def test_bad_details_are_refused_and_nothing_is_recorded(sqlite_api: EventsApi, change: dict, mentions: str) -> None:
    api = sqlite_api
    api.token("dwp")
    person = {k: v for k, v in {**DEAD, **change}.items() if v is not None}
    before = counts(api.hub)
    api.problem(check(api, **person), 422, mentions)
    assert counts(api.hub) == before


def test_malformed_and_unauthenticated_checks_are_problems(sqlite_api: EventsApi) -> None:
    api = sqlite_api
    api.problem(api.client.post("/v1/deceased-checks", content=b"[", headers={**api.auth("dwp"),
                "Content-Type": "application/json"}), 400)
    api.problem(api.client.post("/v1/deceased-checks", json=DEAD), 401)
    checker = {"Authorization": f"Bearer {api.officer_token(api.add_officer('dwp', None, 'checker'))}"}
    api.problem(api.client.post("/v1/deceased-checks", json=DEAD, headers=checker), 403, "body.act")
    api.problem(api.client.post("/v1/deceased-checks", json=[DEAD], headers=api.auth("dwp")), 422)


def test_a_damaged_holding_is_a_clear_conflict_and_records_no_read(api: EventsApi, tmp_path: Path) -> None:
    source = tmp_path / "deaths.csv"
    source.write_text("registration_id,first_name,surname,date_of_birth,date_of_death,postcode\n"
                      "G1,Harold,Pemberton,1935-12-01,2026-10-02,LS6 2AB\n")
    holdings.load_holding(api.hub, "gro-deaths", source)
    stored = holding_files.directory(api.hub) / "gro-deaths.parquet"
    stored.write_bytes(stored.read_bytes()[:40])  # damaged on disk after the load
    api.hub.forget_caches()
    api.token("dwp")  # the caller's credentials exist before the count
    before = counts(api.hub)
    body = api.problem(check(api, first_name="Harold", surname="Pemberton", date_of_birth="1935-12-01"), 409,
                       "load them again")
    assert "gro-deaths" in body["detail"]
    assert counts(api.hub) == before  # the read did not happen, so nothing says it did
