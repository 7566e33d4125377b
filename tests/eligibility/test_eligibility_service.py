"""The eligibility job end to end on SQLite and PostgreSQL: answers against the synthetic truth,
a minimal result, what the audit log and DWP learn, and the policy at release."""

from __future__ import annotations

import csv
from datetime import timedelta
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from eligibility_support import (
    AGREEMENT, CUSTOMERS, SUPPLIER, activate_agreement_naming, audit_payloads, decisions, entries, job_dirs, job_row,
    qualifying_ninos, qualifying_subjects, submit_job, submit_reply, subjects_of_decision, truly_eligible,
)
from sqlalchemy import update

from accord.clock import utcnow
from accord.errors import Conflict, InvalidInput, NotFound
from accord.linkage.standardise import standardise_nino
from accord.registry import agreements, lifecycle
from accord.runtime import Hub
from accord.services import eligibility, jobs
from accord.storage.models import Agreement

OFFICER = "whd-batch"
# What the agreement names from dwp-benefits, and so what a job asks to read: the identifiers the hub
# matches on, then the condition.
READ_FIELDS = ["pension_credit_guarantee", "nino", "first_name", "surname", "date_of_birth", "postcode",
               "address_line_1"]


def submit(hub: Hub, source: Path, **options) -> dict:  # noqa: ANN003
    return submit_job(hub, source, officer=OFFICER, **options)


def results(hub: Hub, job_id: str) -> list[dict[str, str]]:
    with jobs.result_file(hub, job_id, SUPPLIER).open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def test_answers_match_who_really_receives_pension_credit_guarantee(seeded: Hub, synth: Path) -> None:
    view = submit(seeded, synth / CUSTOMERS, chunk_rows=500)
    assert view["state"] == "queued" and view["progress"] == {"done": 0, "total": 2416, "chunks_done": 0, "chunks": 5}
    assert jobs.run_pending(seeded) == [(view["id"], "succeeded")]

    truth = truly_eligible(synth)
    rows = results(seeded, view["id"])
    got = {row["account_reference"]: row["result"] for row in rows}
    assert len(rows) == len(got) == len(truth)  # one answer per account, none twice
    eligible = {ref for ref, result in got.items() if result == eligibility.ELIGIBLE}
    really = {ref for ref, yes in truth.items() if yes}
    false_positives = eligible - really
    found = eligible & really
    assert not false_positives, f"told eligible but not on Pension Credit Guarantee Credit: {sorted(false_positives)}"
    assert len(really) >= 30
    assert len(found) / len(really) >= 0.85, f"recall {len(found)}/{len(really)}"
    # the order of the input is kept
    input_order = pq.read_table(synth / CUSTOMERS, columns=["account_ref"]).column(0).to_pylist()
    assert [row["account_reference"] for row in rows] == input_order

    job = job_row(seeded, view["id"])
    assert job.state == "succeeded" and job.done == job.total == 2416 and job.checkpoint == job.chunks == 5
    assert job.summary["eligible"] == len(eligible) and job.summary["not_matched"] == 2416 - len(eligible)


def test_the_result_holds_exactly_the_account_reference_and_a_flag(seeded: Hub, synth: Path) -> None:
    view = submit(seeded, synth / CUSTOMERS)
    jobs.run_pending(seeded)
    path = jobs.result_file(seeded, view["id"], SUPPLIER)
    assert eligibility.result_columns(path) == ["account_reference", "result"]
    rows = results(seeded, view["id"])
    customers = set(pq.read_table(synth / CUSTOMERS, columns=["account_ref"]).column(0).to_pylist())
    benefit_values = {
        str(v) for column in ("nino", "benefit_type", "award_start", "date_of_birth", "first_name", "surname")
        for v in pq.read_table(synth / "dwp-benefits.parquet", columns=[column]).column(0).to_pylist() if v
    }
    for row in rows:
        assert list(row) == ["account_reference", "result"]  # field by field: nothing else
        assert row["account_reference"] in customers
        assert row["result"] in ("eligible", "not matched")
        assert row["account_reference"] not in benefit_values
    text = path.read_text(encoding="utf-8")
    assert "pension" not in text.lower() and "benefit" not in text.lower()
    # what the job status shows the supplier: counts, never rows
    shown = jobs.view(job_row(seeded, view["id"]))
    assert set(shown["summary"]) == {"eligible", "not_matched", "decision_id"}
    assert set(shown) == {
        "id", "kind", "agreement_id", "state", "cancel_requested", "progress", "attempts", "created_at",
        "started_at", "finished_at", "error", "summary", "results_available", "results_expire_at",
        "results_deleted_at",
    }
    # the work files (DWP's prepared records, the supplier's upload, parts) are gone; only the result stays
    assert sorted(p.name for p in path.parent.iterdir()) == ["result.csv"]


def test_one_decision_names_only_matched_people_and_dwp_learns_nothing_of_the_rest(seeded: Hub, synth: Path) -> None:
    view = submit(seeded, synth / CUSTOMERS)
    jobs.run_pending(seeded)
    rows = results(seeded, view["id"])
    eligible_count = sum(1 for row in rows if row["result"] == "eligible")

    # one decision, recorded when the job read DWP's holding: the condition and the identifiers it matches on
    [decision] = [d for d in decisions(seeded) if d.action == "eligibility.check"]
    assert decision.allowed and decision.body_id == SUPPLIER and decision.officer == OFFICER
    assert decision.records == 2416 and decision.dataset_id == "dwp-benefits"
    assert sorted(decision.fields_requested) == sorted(READ_FIELDS) == sorted(decision.fields_permitted)
    job = job_row(seeded, view["id"])
    assert job.summary["decision_id"] == decision.id and decision.request_id == job.request_id
    # the read names nobody; the release names the matched people, against the decision that read them
    assert subjects_of_decision(seeded, job.request_id, "access.decision") == set()
    [named] = [e for e in entries(seeded, job.request_id) if e.kind == "access.subjects"]
    assert f'"decision_id":{decision.id}' in named.payload.replace(" ", "")
    subjects = subjects_of_decision(seeded, job.request_id)
    qualifying = qualifying_subjects(seeded, synth)
    assert subjects and subjects <= qualifying  # only people DWP holds as qualifying, by pseudonymous key
    by_nino = {seeded.person_key("nino", n) for n in qualifying_ninos(synth)}
    assert len(subjects & by_nino) >= 0.9 * len(subjects)  # most by their NINO key, the rest by name and birth
    assert 0.8 * eligible_count <= len(subjects) <= 1.2 * eligible_count
    # no customer reference, and no name or postcode of an unmatched customer, anywhere in the audit log
    table = pq.read_table(synth / CUSTOMERS).to_pylist()
    unmatched = {row["account_reference"] for row in rows if row["result"] == "not matched"}
    log = "\n".join(audit_payloads(seeded))
    for customer in table:
        assert customer["account_ref"] not in log
        if customer["account_ref"] in unmatched and customer["supply_postcode"]:
            assert customer["supply_postcode"] not in log
    # DWP (and any other body) cannot see the job at all
    with seeded.transaction() as session:
        for other in ("dwp", "northshire-council", "accord-hub"):
            with pytest.raises(NotFound):
                jobs.visible_job(session, view["id"], other)
    with pytest.raises(NotFound):
        jobs.result_file(seeded, view["id"], "dwp")


def test_a_refused_submission_is_recorded_and_stores_nothing(seeded: Hub, synth: Path) -> None:
    reply = submit_reply(seeded, synth / CUSTOMERS, body="northshire-council", officer=OFFICER)
    assert reply.status == 403 and "refused" in reply.body["detail"] and reply.body["reasons"]
    [denied] = decisions(seeded)
    assert not denied.allowed and denied.action == "eligibility.check" and denied.records == 2416
    assert reply.body["decision_id"] == denied.id and reply.body["decision"] == "deny"
    assert job_dirs(seeded) == []
    with seeded.transaction() as session:
        assert jobs.list_jobs(session) == []


def test_an_agreement_that_does_not_name_the_identifiers_refuses_the_check(seeded: Hub, synth: Path) -> None:
    """The hub reads DWP's identifiers to match: an agreement naming only the condition does not allow
    that (its excess fields are denied), so the check is refused, recorded, and nothing is stored."""
    narrow = activate_agreement_naming(seeded, ["pension_credit_guarantee"])
    reply = submit_reply(seeded, synth / CUSTOMERS, agreement=narrow, officer=OFFICER)
    assert reply.status == 403 and reply.body["decision"] == "deny", reply.body
    [denied] = decisions(seeded)
    assert not denied.allowed and denied.action == "eligibility.check" and denied.fields_permitted == []
    assert sorted(denied.fields_requested) == sorted(READ_FIELDS)
    [reason] = denied.reasons
    assert f"fields not in agreement '{narrow}'" in reason and "nino" in reason and "date_of_birth" in reason
    assert reply.body["reasons"] == [reason]
    assert job_dirs(seeded) == []
    # naming the identifiers as well lets the same check run
    named = activate_agreement_naming(seeded, READ_FIELDS, "whd-named")
    view = submit(seeded, synth / CUSTOMERS, agreement=named)
    assert jobs.run_pending(seeded) == [(view["id"], "succeeded")]


def _suspend(hub: Hub) -> None:
    with hub.transaction() as session:
        agreement = agreements.get_agreement(session, AGREEMENT)
        lifecycle.transition(session, hub.framework, agreement, "suspended", actor="test", now=utcnow(),
                             reason="review of matching quality")


def test_a_suspended_agreement_stops_the_release_and_deletes_the_results(seeded: Hub, synth: Path) -> None:
    view = submit(seeded, synth / CUSTOMERS, chunk_rows=1000)
    assert jobs.claim(seeded, "w") == view["id"]

    def suspend_after_first_chunk(index: int) -> None:  # after the holding was read under a grant
        if index == 0:
            _suspend(seeded)

    assert jobs.run_claimed(seeded, view["id"], "w", on_chunk=suspend_after_first_chunk) == "failed"
    job = job_row(seeded, view["id"])
    assert "not released" in job.error and job.result_location is None
    assert job_dirs(seeded) == []
    read, refusal = [d for d in decisions(seeded) if d.action == "eligibility.check"]
    assert read.allowed and not refusal.allowed and refusal.request_id == job.request_id
    assert job.summary == {"decision_id": read.id}  # the read happened: the failed job still points to it
    assert subjects_of_decision(seeded, job.request_id) == set()  # nobody is named: nothing was released
    with pytest.raises(Conflict):
        jobs.result_file(seeded, view["id"], SUPPLIER)


def test_a_job_whose_agreement_is_suspended_before_it_starts_reads_nothing(seeded: Hub, synth: Path) -> None:
    view = submit(seeded, synth / CUSTOMERS)
    _suspend(seeded)
    assert jobs.run_pending(seeded) == [(view["id"], "failed")]
    job = job_row(seeded, view["id"])
    assert "refused" in job.error and job.result_location is None and job.summary == {}
    assert job_dirs(seeded) == []
    [refusal] = [d for d in decisions(seeded) if d.action == "eligibility.check"]
    assert not refusal.allowed and refusal.request_id == job.request_id
    assert subjects_of_decision(seeded, job.request_id) == set()


def test_nino_and_date_of_birth_rules_when_a_supplier_holds_them(seeded: Hub, synth: Path, tmp_path: Path) -> None:
    """A list with NINO (rule 1) or date of birth (rule 2) and no given name still matches; a surname
    and postcode alone (anyone in the household) never does."""
    claimants = [
        row for row in pq.read_table(synth / "dwp-benefits.parquet").to_pylist()
        if row["pension_credit_guarantee"] and standardise_nino(row["nino"]) and row["date_of_birth"]
        and row["postcode"] and row["surname"]
    ][:40]
    source = tmp_path / "with-nino-and-dob.csv"
    with source.open("w", newline="", encoding="utf-8") as handle:
        out = csv.writer(handle)
        out.writerow(["account_reference", "nino", "surname", "postcode", "date_of_birth"])
        for i, c in enumerate(claimants[:10]):
            out.writerow([f"A{i}", c["nino"].lower(), c["surname"].upper(), "", ""])
        for i, c in enumerate(claimants[10:20]):
            out.writerow([f"B{i}", "", c["surname"], c["postcode"], ""])
        for i, c in enumerate(claimants[20:30]):
            out.writerow([f"C{i}", c["nino"], "Nobody-Like-This", "", ""])
        for i, c in enumerate(claimants[30:40]):
            out.writerow([f"D{i}", "", c["surname"], c["postcode"].replace(" ", ""), c["date_of_birth"].strftime("%d/%m/%Y")])
    view = submit(seeded, source)
    jobs.run_pending(seeded)
    got = {row["account_reference"]: row["result"] for row in results(seeded, view["id"])}
    assert [got[f"A{i}"] for i in range(10)] == ["eligible"] * 10  # NINO and surname agree
    assert [got[f"B{i}"] for i in range(10)] == ["not matched"] * 10  # surname and postcode alone: a household
    assert [got[f"C{i}"] for i in range(10)] == ["not matched"] * 10  # NINO, another surname and no date
    assert [got[f"D{i}"] for i in range(10)] == ["eligible"] * 10  # date of birth, surname, postcode


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "customers.csv is empty"),
        ("account_ref,first_name\n", "customers.csv has no rows"),
        ("first_name,surname,supply_postcode\nAnn,Smith,AB1 2CD\n", "no account reference column"),
        ("account_ref,first_name\nA1,Ann\n", "not enough identifiers"),
        ("account_ref,first_name,surname,postcode\nA1,Ann,Smith,AB1 2CD\n,Bob,Jones,AB1 2CE\n",
         "row 2, column 'account_ref': the account reference is empty"),
        ("account_ref,first_name,surname,postcode\nA1,Ann,Smith,AB1 2CD\nA2,B,C,D\nA1,Bob,Jones,AB1 2CE\n",
         "row 3, column 'account_ref': the account reference repeats row 1"),
        ("account_ref,first_name,surname,postcode,dob\nA1,Ann,Smith,AB1 2CD,yesterday\nA2,Bo,Li,AB1 2CE,soon\n",
         "not dates"),
    ],
)
def test_bad_lists_are_refused_whole_before_anything_is_stored(
    sqlite_seeded: Hub, tmp_path: Path, content: str, message: str
) -> None:
    source = tmp_path / "customers.csv"
    source.write_text(content, encoding="utf-8")
    with pytest.raises(InvalidInput, match=message):
        submit(sqlite_seeded, source)
    assert job_dirs(sqlite_seeded) == [] and decisions(sqlite_seeded) == []


def test_other_bad_input(sqlite_seeded: Hub, tmp_path: Path, synth: Path) -> None:
    latin = tmp_path / "latin1.csv"
    latin.write_bytes("account_ref,first_name,surname,postcode\nA1,Zo\xeb,Sm\xefth,AB1 2CD\n".encode("latin-1"))
    with pytest.raises(InvalidInput, match="latin1.csv"):
        submit(sqlite_seeded, latin)
    with pytest.raises(InvalidInput, match="expected a .csv or .parquet"):
        submit(sqlite_seeded, tmp_path / "customers.xlsx")
    with pytest.raises(InvalidInput, match="no such file"):
        submit(sqlite_seeded, tmp_path / "missing.csv")
    with pytest.raises(InvalidInput, match="'birthday' is not a matching field"):
        submit(sqlite_seeded, synth / CUSTOMERS, mapping={"birthday": "account_start"})
    with pytest.raises(InvalidInput, match="column 'forename' is not in the file"):
        submit(sqlite_seeded, synth / CUSTOMERS, mapping={"first_name": "forename"})
    with pytest.raises(NotFound, match="no agreement"):
        submit_reply(sqlite_seeded, synth / CUSTOMERS, agreement="no-such-agreement")
    with pytest.raises(InvalidInput, match="yes/no attribute"):  # an agreement with no eligibility condition
        submit_reply(sqlite_seeded, synth / CUSTOMERS, agreement="spd-fraud-pilot")
    assert job_dirs(sqlite_seeded) == [] and decisions(sqlite_seeded) == []


def test_a_mapping_names_the_columns_of_an_unusual_list(sqlite_seeded: Hub, synth: Path, tmp_path: Path) -> None:
    table = pq.read_table(synth / CUSTOMERS).rename_columns(
        ["rid", "acct", "title", "forename", "family", "line1", "pcode", "start", "pay", "psr", "supplier"])
    source = tmp_path / "renamed.parquet"
    pq.write_table(table, source)
    view = submit(sqlite_seeded, source, reference="acct",
                  mapping={"first_name": "forename", "surname": "family", "postcode": "pcode", "address": "line1"})
    jobs.run_pending(sqlite_seeded)
    renamed = {r["account_reference"]: r["result"] for r in results(sqlite_seeded, view["id"])}
    plain = submit(sqlite_seeded, synth / CUSTOMERS)
    jobs.run_pending(sqlite_seeded)
    assert renamed == {r["account_reference"]: r["result"] for r in results(sqlite_seeded, plain["id"])}


def test_results_are_deleted_when_the_retention_period_passes(seeded: Hub, synth: Path) -> None:
    from accord.services import retention
    from accord.storage.models import AuditEntry
    from sqlalchemy import select

    view = submit(seeded, synth / CUSTOMERS)
    jobs.run_pending(seeded)
    job = job_row(seeded, view["id"])
    assert job.expires_at is not None
    assert job.finished_at + timedelta(days=180) <= job.expires_at <= job.finished_at + timedelta(days=185)  # P6M
    path = jobs.result_file(seeded, view["id"], SUPPLIER)
    with seeded.transaction() as session:
        assert retention.run(session, job.expires_at - timedelta(seconds=1))[
            "job results past their agreement's retention"] == 0
    assert path.is_file()
    with seeded.transaction() as session:
        deleted = retention.run(session, job.expires_at + timedelta(seconds=1))
    assert deleted["job results past their agreement's retention"] == 1
    assert not path.exists()
    with pytest.raises(jobs.Gone, match="retention period has passed"):
        jobs.result_file(seeded, view["id"], SUPPLIER)
    shown = jobs.view(job_row(seeded, view["id"]))
    assert shown["results_deleted_at"] and not shown["results_available"] and shown["state"] == "succeeded"
    with seeded.transaction() as session:
        payloads = list(session.scalars(select(AuditEntry.payload).where(AuditEntry.kind == "retention.deletion")))
    assert any("job results" in p for p in payloads)


def test_a_daily_limit_of_one_lets_the_job_that_used_it_release_its_results(seeded: Hub, synth: Path) -> None:
    """The read takes the day's one request; the release, asked again, is not counted a second time."""
    with seeded.transaction() as session:
        session.execute(update(Agreement).where(Agreement.id == "warm-home-discount-2026").values(max_requests_per_day=1))
    view = submit(seeded, synth / CUSTOMERS)
    assert jobs.run_pending(seeded) == [(view["id"], "succeeded")]
    [read] = [d for d in decisions(seeded) if d.action == "eligibility.check"]
    assert read.allowed
    second = submit_reply(seeded, synth / CUSTOMERS)  # the day's one request is used
    assert second.status == 403 and any("allows 1 requests a day" in r for r in second.body["reasons"])


def test_a_job_with_no_holding_to_read_records_no_access(seeded: Hub, synth: Path) -> None:
    """Allowed, but DWP has loaded no records: the job fails and the log shows no read that did not happen."""
    from accord.services.holdings import files

    view = submit(seeded, synth / CUSTOMERS)
    for path in files.paths(seeded, "dwp-benefits"):
        path.unlink()
    assert jobs.run_pending(seeded) == [(view["id"], "failed")]
    assert [d for d in decisions(seeded) if d.action == "eligibility.check"] == []
