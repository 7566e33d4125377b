"""The eligibility job: read the claimants once under a grant, match chunk by chunk, release under a decision.

When a job first runs, the hub asks the decision point to read the discloser's
holding (the condition and the identifiers it matches on) and records that
decision before reading; the qualifying claimants are written once to the job's
files, so a resumed job never reads the holding again. Each chunk of the
customer list is matched and its answers written as a part file. When every
chunk is done, the release is decided again (the agreement may have been
suspended meanwhile): a refusal is recorded and the job fails with its results
deleted unseen; an allowance names the people matched in the audit log, against
the decision that read their records, so each sees the check on "who used my data".
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
from sqlalchemy import update
from sqlalchemy.orm import Session

from accord.durations import to_timedelta
from accord.errors import Forbidden, InvalidInput
from accord.runtime import Hub
from accord.services import holdings, jobs
from accord.services.access import Grant, ask, name_subjects, record
from accord.services.eligibility.encoded import _pprl, encoded_claimants_path
from accord.services.eligibility.matching import MATCH_SQL, claimant_fields, qualifying_claimants, standardise_side
from accord.services.eligibility.intake import connect
from accord.services.eligibility.terms import Terms, access_request, terms_for
from accord.services.jobs import LeaseLost, held_by
from accord.storage.tables.jobs import Job

KIND = "eligibility"
ELIGIBLE, NOT_MATCHED = "eligible", "not matched"
RESULT_COLUMNS = ("account_reference", "result")
PPRL_THRESHOLD = 0.9
# A match needs given names, NINO or date of birth compared on both sides: surname and address alone
# are anyone in the household, as in the plain rules.
PPRL_PERSON_FIELDS = ("first_name", "nino", "dob")


def matching_fields(terms: Terms, encoded: bool) -> dict[str, str]:
    """{matching field: the discloser's field} the job reads besides the condition (none for encoded lists)."""
    return {} if encoded else claimant_fields(list(terms.registered))


def _read_grant(hub: Hub, job: Job, terms: Terms, fields: dict[str, str], first_time: bool) -> Grant:
    """The grant to read the holding: recorded (with the decision id kept on the job) the first time.

    A resumed job asks again (the agreement may have been suspended meanwhile) but reads
    nothing again, so only a refusal is recorded then. A grant that recording turns into
    a refusal (a daily limit reached meanwhile) is a refusal: nothing is read.
    """
    request = access_request(terms, job.body_id, job.officer, job.total, tuple(fields.values()))
    with hub.transaction() as session:
        answer = ask(session, request, claimed=not first_time)  # a resumed job's read was counted already
        if isinstance(answer, Grant) and first_time:
            holdings.count(answer)  # NotFound before anything is recorded: nothing to read is no access
        if first_time or not isinstance(answer, Grant):
            recorded = record(session, answer, {"job": job.id, "stage": "read"}, request_id=job.request_id,
                              client_id=job.client_id)
            if recorded.grant is not None:
                summary = {"decision_id": recorded.decision_id}
                kept = session.execute(update(Job).where(held_by(job.lease_owner, job.id)).values(summary=summary))
                if kept.rowcount != 1:  # another worker has the job: roll back, read nothing
                    raise LeaseLost(job.id)
                job.summary = summary
            answer = recorded.grant or recorded.decision
    if not isinstance(answer, Grant):
        raise Forbidden("the eligibility check is refused: " + "; ".join(answer.reasons))
    return answer


@dataclass
class EligibilityWork:
    """One claim's run of an eligibility job: the qualifying claimants loaded once, then chunk by chunk."""

    hub: Hub
    job: Job
    terms: Terms
    directory: Path
    connection: duckdb.DuckDBPyConnection = field(init=False)
    read_fields: tuple[str, ...] = field(init=False, default=())  # the discloser's fields the job asked to read

    def __post_init__(self) -> None:
        claimants = self.directory / "claimants.parquet"
        fields = matching_fields(self.terms, encoded=False)
        self.read_fields = tuple(fields.values())
        grant = _read_grant(self.hub, self.job, self.terms, fields, first_time=not claimants.is_file())
        if not claimants.is_file():
            temp = claimants.with_suffix(".tmp")
            pq.write_table(qualifying_claimants(grant, self.terms.condition, fields), temp, compression="zstd")
            os.replace(temp, claimants)
        self.connection = connect(self.directory)
        self.connection.execute("CREATE TABLE claimants AS SELECT * EXCLUDE (forms) FROM read_parquet(?)",
                                [str(claimants)])
        self.connection.execute(
            "CREATE TABLE claimant_forms AS SELECT ckey, unnest(forms) AS form, sur, pc, addr, dob "
            "FROM read_parquet(?) WHERE forms IS NOT NULL", [str(claimants)])
        self.input = self.directory / "input.parquet"
        self.fields = {f: f for f in self.job.params.get("fields", [])}
        self.chunk_rows = int(self.job.params["chunk_rows"])

    def process(self, index: int) -> int:
        first = index * self.chunk_rows
        chunk = self.connection.sql(
            "SELECT * FROM read_parquet(?) WHERE _row >= ? AND _row < ? ORDER BY _row",
            params=[str(self.input), first, first + self.chunk_rows],
        ).to_arrow_table()
        prepared = standardise_side(chunk, self.fields, {"_row": "_row", "account_reference": "account_reference"})
        self.connection.register("chunk", prepared)
        try:
            found = self.connection.sql(MATCH_SQL).to_arrow_table()
        finally:
            self.connection.unregister("chunk")
        return self._write_part(index, found)

    def _write_part(self, index: int, found: pa.Table) -> int:
        """Chunk ``index``'s answers as its part file (written whole, then renamed into place)."""
        part = pa.table({
            "_row": found.column("_row"),
            "account_reference": found.column("account_reference"),
            "eligible": found.column("eligible"),
            "person_keys": pa.array([sorted(set(keys)) if keys else [] for keys in found.column("subjects").to_pylist()],
                                    type=pa.list_(pa.string())),
        })
        target = jobs.part_path(self.directory, index)
        target.parent.mkdir(exist_ok=True)
        temp = target.with_suffix(".tmp")
        pq.write_table(part, temp, compression="zstd")
        os.replace(temp, target)
        return part.num_rows

    def finish(self, session: Session, job: Job, now: datetime) -> None:
        """Assemble the result, then decide its release and name the matched people (see the module docstring)."""
        parts = [str(jobs.part_path(self.directory, i)) for i in range(job.chunks)]
        result = self.directory / "result.csv"
        temp = self.directory / ".result.csv.tmp"
        rows, distinct, eligible = self.connection.execute(
            "SELECT count(*), count(DISTINCT _row), count(*) FILTER (WHERE eligible) FROM read_parquet(?)", [parts]
        ).fetchall()[0]
        if rows != job.total or distinct != job.total:
            raise RuntimeError(f"job {job.id}: {rows} result rows ({distinct} distinct) for {job.total} inputs")
        self.connection.execute(
            f"COPY (SELECT account_reference, CASE WHEN eligible THEN '{ELIGIBLE}' ELSE '{NOT_MATCHED}' END "
            f"AS result FROM read_parquet(?) ORDER BY _row) TO '{temp.as_posix()}' (FORMAT csv, HEADER true)",
            [parts],
        )
        subjects = tuple(key for (key,) in self.connection.execute(
            "SELECT DISTINCT unnest(person_keys) FROM read_parquet(?) ORDER BY 1", [parts]).fetchall())
        read_decision = (job.summary or {}).get("decision_id")
        # the same request as the read's: the agreement may have been suspended or narrowed meanwhile
        answer = ask(session, access_request(self.terms, job.body_id, job.officer, job.total, self.read_fields),
                     now=now, claimed=True)  # the read that this releases took the day's place already
        if not isinstance(answer, Grant):
            record(session, answer, {"job": job.id, "stage": "release"}, request_id=job.request_id,
                   client_id=job.client_id)
            temp.unlink(missing_ok=True)
            job.state = "failed"
            job.error = "the results were not released: " + "; ".join(answer.reasons)
            job.summary = {"decision_id": read_decision}  # the read happened: its decision stays on the job
            return
        name_subjects(session, answer, subjects, decision_id=read_decision, outcome={"eligible": int(eligible)},
                      request_id=job.request_id)
        os.replace(temp, result)
        retention = answer.obligations.get("retention") or self.terms.retention
        job.state = "succeeded"
        job.result_location = str(result)
        job.expires_at = now + to_timedelta(retention, now)
        job.summary = {"eligible": int(eligible), "not_matched": int(rows - eligible), "decision_id": read_decision}

    def close(self) -> None:
        self.connection.close()


class EncodedWork(EligibilityWork):
    """An encoded list: each chunk linked with the discloser's encoding on Dice similarity
    (``pprl.link_encoded``); matched records count when the plaintext holding says they qualify."""

    def __post_init__(self) -> None:
        self.pprl = _pprl()
        claimants = self.directory / "claimants.pprl.parquet"
        qualifying = self.directory / "qualifying.parquet"
        self.read_fields = ()  # the hub links encodings: it reads no plaintext identifier
        grant = _read_grant(self.hub, self.job, self.terms, {}, first_time=not qualifying.is_file())
        if not claimants.is_file():  # a copy per job, so a resumed job links with what it started with
            source = encoded_claimants_path(self.hub, self.terms.agreement_id)
            if not source.is_file():
                raise InvalidInput(f"the claimants' encoding for {self.terms.agreement_id} has been withdrawn")
            temp = claimants.with_name(".claimants.tmp")
            shutil.copyfile(source, temp)
            os.replace(temp, claimants)
        if not qualifying.is_file():
            if holdings.ROW_KEY not in holdings.columns(grant):
                raise InvalidInput(f"the holding of {self.terms.dataset_id} has no record_id to link encodings to")
            table = holdings.read(grant, [holdings.ROW_KEY, holdings.SUBJECT],
                                  any_of=[holdings.IsTrue(c) for c in self.terms.condition])
            temp = qualifying.with_suffix(".tmp")
            pq.write_table(table, temp)
            os.replace(temp, qualifying)
        self.right = pq.read_table(claimants)
        self.connection = connect(self.directory)
        self.connection.execute(
            f"CREATE TABLE qualifying AS SELECT CAST({holdings.ROW_KEY} AS VARCHAR) AS record_id, "
            f"{holdings.SUBJECT} AS subject FROM read_parquet(?)", [str(qualifying)])
        self.input = self.directory / "input.parquet"
        self.chunk_rows = int(self.job.params["chunk_rows"])
        self.metadata = pq.read_schema(self.input).metadata

    def process(self, index: int) -> int:
        first = index * self.chunk_rows
        # pyarrow, not DuckDB: the filters must stay fixed-size binary, as their encoding says
        chunk = pq.read_table(self.input, filters=[("_row", ">=", first), ("_row", "<", first + self.chunk_rows)])
        chunk = chunk.sort_by("_row")
        filters = [c for c in chunk.column_names if c.startswith("bf_")]
        left = pa.table({"id": chunk.column("account_reference"), **{c: chunk.column(c) for c in filters}}
                        ).replace_schema_metadata(self.metadata)
        links = self.pprl.link_encoded(left, self.right, threshold=PPRL_THRESHOLD)
        person = [f"dice_{f}" for f in PPRL_PERSON_FIELDS if f"dice_{f}" in links.column_names]
        compared = " OR ".join(f"{c} IS NOT NULL" for c in person) or "FALSE"
        self.connection.register("links", links.select(["left_id", "right_id", *person]))
        self.connection.register("chunk", chunk.select(["_row", "account_reference"]))
        try:
            found = self.connection.sql(f"""
                WITH matched AS (
                    SELECT DISTINCT l.left_id, q.subject FROM links l JOIN qualifying q ON q.record_id = l.right_id
                    WHERE {compared})
                SELECT c._row, c.account_reference, bool_or(m.left_id IS NOT NULL) AS eligible,
                       list(DISTINCT m.subject) FILTER (WHERE m.subject IS NOT NULL) AS subjects
                FROM chunk c LEFT JOIN matched m ON m.left_id = c.account_reference
                GROUP BY ALL ORDER BY c._row""").to_arrow_table()
        finally:
            self.connection.unregister("links")
            self.connection.unregister("chunk")
        return self._write_part(index, found)


def start(hub: Hub, job: Job) -> EligibilityWork:
    """The job kind's entry point for ``accord.services.jobs``."""
    with hub.transaction() as session:
        terms = terms_for(session, job.agreement_id, job.body_id)
    work = EncodedWork if job.params.get("encoded") else EligibilityWork
    return work(hub, job, terms, jobs.job_dir(hub, job.id))


def result_columns(path: Path) -> list[str]:
    """The header of a result file (tests and the guide assert it is exactly RESULT_COLUMNS)."""
    with path.open(encoding="utf-8") as handle:
        return handle.readline().strip().split(",")
