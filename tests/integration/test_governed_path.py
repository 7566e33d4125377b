"""Every catalogue action that touches a body's records takes the governed path.

For each - training a model, linking under an agreement, encoding plaintext at the
hub, verification, eligibility, households, the deceased check and events - an
allowed request writes a decision and an audit entry for that action, and a
refused one writes its refusal and reads nothing: no holding file is opened. The
same actions are then all refused while their agreements' terms have not started.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from accord_testing import seed_register
from sqlalchemy import select, update

from accord.clock import utcnow
from accord.errors import Forbidden, NotFound
from accord.runtime import Hub
from accord.services import deceased, disadvantages, eligibility, events, holdings, jobs, verification
from accord.services.holdings import files, reading
from accord.services.linking import LinkRefused, LinkRequest, link
from accord.services.linking import governed
from accord.services.linking import run as run_module
from accord.services.unit_of_work import Actor
from accord.storage.models import Agreement, AuditEntry, DecisionRecord

SYNTH_PERSONS, SYNTH_SEED = 2000, 11


@pytest.fixture(scope="module")
def synth(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from accord.synth import generate

    out = tmp_path_factory.mktemp("governed") / "synth"
    generate(persons=SYNTH_PERSONS, seed=SYNTH_SEED, out=out, overwrite=True, workers=1)
    return out


@pytest.fixture
def seeded(sqlite_hub: Hub, synth: Path) -> Hub:
    hub = sqlite_hub
    hub.forget_caches()
    seed_register(hub)
    for path in synth.glob("*.parquet"):
        try:
            holdings.load_holding(hub, path.stem, path)
        except NotFound:  # a synthetic file for a dataset the example register has not registered
            continue
    events.subscribe(hub, _actor("dwp"), events.SubscriptionSpec(("death",)))  # DWP is told of deaths (pull feed)
    return hub


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every time a holding file is opened to read records (``files.current`` is the one way to its path)."""
    opened: list[str] = []
    real = files.current

    def spy(hub: Hub, dataset_id: str) -> Path:
        opened.append(dataset_id)
        return real(hub, dataset_id)

    for module in (files, reading):
        monkeypatch.setattr(module, "current", spy)
    real_side = run_module.prepare_side

    def side(path: Path, mapping, id_column, name: str, mode: str):  # noqa: ANN001, ANN202
        if name == "RIGHT":  # the other body's records, under an agreement
            opened.append(f"RIGHT {path.name}")
        return real_side(path, mapping, id_column, name, mode)

    monkeypatch.setattr(run_module, "prepare_side", side)
    real_read_right = governed.read_right

    def read_right(reading, request):  # noqa: ANN001, ANN202 - under an agreement, RIGHT is read here
        opened.append(f"RIGHT {request.right.name}")
        return real_read_right(reading, request)

    monkeypatch.setattr(governed, "read_right", read_right)
    return opened


def _actor(body: str) -> Actor:
    return Actor(body, f"an officer of {body}", f"req-{secrets.token_hex(6)}")


def _recorded(hub: Hub, request_id: str) -> tuple[list[DecisionRecord], list[dict]]:
    with hub.transaction() as session:
        decisions = list(session.scalars(select(DecisionRecord).where(DecisionRecord.request_id == request_id)))
        entries = [json.loads(e.payload) for e in session.scalars(
            select(AuditEntry).where(AuditEntry.request_id == request_id))]
        session.expunge_all()
    return decisions, entries


@dataclass(frozen=True)
class Case:
    action: str
    allowed_body: str
    refused_body: str


def _first_dwp_person(synth: Path) -> dict:
    rows = pq.read_table(synth / "dwp-benefits.parquet").to_pylist()
    return next(r for r in rows if r["nino"] and r["first_name"] and r["surname"] and r["postcode"]
                and r["date_of_birth"])


def _applications(synth: Path, tmp: Path) -> Path:
    import pyarrow as pa

    out = tmp / "past.parquet"
    pq.write_table(pa.concat_tables([pq.read_table(p) for p in sorted(synth.glob("*-registration-applications.parquet"))]),
                   out)
    return out


# Each action: run it as ``body``; returns the request id it was recorded under. A refusal may raise.
def _train(hub: Hub, synth: Path, tmp: Path, body: str) -> str:
    actor = _actor(body)
    try:
        verification.train_model(hub, actor, agreement_id="electoral-registration-verification",
                                 applications=_applications(synth, tmp), mapping={"dob": "date_of_birth"})
    except Forbidden:
        pass
    return actor.request_id


def _link(hub: Hub, synth: Path, tmp: Path, body: str, *, encode: bool = False) -> str:
    actor = _actor(body)
    request = LinkRequest(left=synth / "dvla-drivers.parquet", right=synth / "hmrc-paye.parquet",
                          out=tmp / f"links-{actor.request_id}.parquet", mode="pprl" if encode else "deterministic",
                          left_map="dob=date_of_birth", right_map="dob=date_of_birth",
                          agreement="paye-for-official-statistics", secret=b"s" * 48 if encode else None)
    try:
        link(request, lambda _stage: None, hub=hub, actor=actor)
    except LinkRefused:
        pass
    return actor.request_id


def _verify(hub: Hub, synth: Path, tmp: Path, body: str) -> str:
    person = _first_dwp_person(synth)
    actor = _actor(body)
    applicant = {"first_name": person["first_name"], "surname": person["surname"], "nino": person["nino"],
                 "dob": person["date_of_birth"].isoformat(), "postcode": person["postcode"]}
    verification.check(hub, actor, verification.CheckRequest("electoral-registration-verification",
                                                             ((None, applicant),), single=True))
    return actor.request_id


def _eligibility(hub: Hub, synth: Path, tmp: Path, body: str) -> str:
    actor = _actor(body)
    reply = eligibility.submit(hub, actor, synth / "brightwatt-customers.parquet",
                               agreement_id="warm-home-discount-2026", reference="account_ref")
    if reply.ok:
        jobs.run_pending(hub)
    return actor.request_id


def _households(hub: Hub, synth: Path, tmp: Path, body: str) -> str:
    actor = _actor(body)
    disadvantages.identify(hub, actor, "supporting-families-northshire-partners")
    return actor.request_id


def _deceased(hub: Hub, synth: Path, tmp: Path, body: str) -> str:
    death = next(r for r in pq.read_table(synth / "gro-deaths.parquet").to_pylist()
                 if r["first_name"] and r["surname"] and r["date_of_birth"])
    actor = _actor(body)
    deceased.check(hub, actor, deceased.PersonDetails(death["first_name"], death["surname"], death["date_of_birth"]))
    return actor.request_id


def _events(hub: Hub, synth: Path, tmp: Path, body: str) -> str:
    """DWP, subscribed to deaths, is told of a death only as decided: allowed; refused (and recorded) once
    its agreement is suspended."""
    if body != "dwp":
        with hub.transaction() as session:
            session.execute(update(Agreement).where(Agreement.id == "gro-deaths-to-dwp").values(status="suspended"))
    recorder = _actor("gro")
    death = {"registration_id": "GP-1", "first_name": "Ada", "surname": "Lovelace", "date_of_birth": "1950-12-10",
             "date_of_death": utcnow().date().isoformat()}
    events.record(hub, recorder, [events.NewEvent("death", utcnow(), death)])
    return recorder.request_id


CASES = {
    "linkage.train": (Case("linkage.train", "northshire-ero", "brightwatt-energy"), _train),
    "linkage.link": (Case("linkage.link", "ons", "northshire-council"), _link),
    "linkage.encode": (Case("linkage.encode", "ons", "northshire-council"),
                       lambda hub, synth, tmp, body: _link(hub, synth, tmp, body, encode=True)),
    "identity.verify": (Case("identity.verify", "northshire-ero", "brightwatt-energy"), _verify),
    "eligibility.check": (Case("eligibility.check", "brightwatt-energy", "northshire-council"), _eligibility),
    "households.identify": (Case("households.identify", "northshire-council", "brightwatt-energy"), _households),
    "deceased.check": (Case("deceased.check", "dwp", "hmrc"), _deceased),
    "events.receive": (Case("events.receive", "dwp", "suspended"), _events),
}


@pytest.mark.parametrize("name", list(CASES))
def test_an_allowed_action_is_decided_and_recorded(seeded: Hub, synth: Path, tmp_path: Path, reads: list[str],
                                                   name: str) -> None:
    case, run = CASES[name]
    request_id = run(seeded, synth, tmp_path, case.allowed_body)
    decisions, entries = _recorded(seeded, request_id)
    mine = [d for d in decisions if d.action == case.action]
    assert mine and all(d.allowed for d in mine), [(d.action, d.allowed, d.reasons) for d in decisions]
    assert any(e["kind"] == "access.decision" and e["action"] == case.action and e["outcome"] == "allow"
               for e in entries), entries


@pytest.mark.parametrize("name", list(CASES))
def test_a_refused_action_is_recorded_and_reads_nothing(seeded: Hub, synth: Path, tmp_path: Path, reads: list[str],
                                                        name: str) -> None:
    case, run = CASES[name]
    request_id = run(seeded, synth, tmp_path, case.refused_body)
    decisions, entries = _recorded(seeded, request_id)
    mine = [d for d in decisions if d.action == case.action]
    assert mine and not any(d.allowed for d in mine), [(d.action, d.allowed) for d in decisions]
    assert any(e["action"] == case.action and e["outcome"] == "deny" for e in entries), entries
    assert reads == [], f"a refused {case.action} opened {reads}"


@pytest.mark.parametrize("name", list(CASES))
def test_an_agreement_not_yet_started_is_refused_for_every_action(seeded: Hub, synth: Path, tmp_path: Path,
                                                                  reads: list[str], name: str) -> None:
    case, run = CASES[name]
    starts = utcnow().date() + timedelta(days=30)
    with seeded.transaction() as session:  # every agreement active, but its term begins next month
        session.execute(update(Agreement).values(start_date=starts, end_date=date(2030, 12, 31)))
    request_id = run(seeded, synth, tmp_path, case.allowed_body)
    decisions, _entries = _recorded(seeded, request_id)
    mine = [d for d in decisions if d.action == case.action]
    assert mine and not any(d.allowed for d in mine)
    assert any(f"starts on {starts.isoformat()}" in reason for d in mine for reason in d.reasons), \
        [d.reasons for d in mine]
    assert reads == []
