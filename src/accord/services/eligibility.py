"""Fuel-poverty eligibility (Warm Home Discount): an eligible / not matched flag per account.

An energy supplier submits its customer list; Accord matches it against the
benefit records DWP holds under the fuel-poverty agreement and gives back, per
account reference, only ``eligible`` or ``not matched``. It runs as a durable
background job (``accord.services.jobs``), in chunks, resumable after a crash.

What qualifies. The agreement says: the boolean attribute fields it discloses
from DWP's dataset are the eligibility condition, and a claimant qualifies when
any of them is true. ``warm-home-discount-2026`` discloses only
``pension_credit_guarantee``: in receipt of the Guarantee Credit element of
Pension Credit, the Warm Home Discount core group 1 condition. Savings Credit
alone, State Pension, Universal Credit, PIP and Attendance Allowance do not
qualify under it. Only qualifying claimants enter the match at all: the rest of
DWP's records are never read past the filter.

How customers are matched (deterministic rules on standardised identifiers,
``accord.linkage.standardise``; DuckDB joins, one rule per blocking key; a
customer is eligible when any rule finds a qualifying claimant):

1. ``nino``                   NINO equal, and surname or date of birth equal
2. ``dob+surname+postcode``   date of birth, surname and postcode equal
3. ``names+postcode``         given names equivalent (equal, or nickname and
                              formal name: Bill / William), surname equal, postcode equal
4. ``names+address``          given names equivalent, surname equal, first line of
                              address equal, postcode district (outward code) equal
                              or the postcode missing on one side (a mistyped inward code)
5. ``similar-names+address``  postcode and first line of address equal, given name
                              and surname each Jaro-Winkler >= 0.92 (a typo on one side)

Rules 3-5 also require the dates of birth not to differ where both sides
have one. A surname and address alone (another member of the household) never
match, and a customer with no given name can match only by rules 1-2.

What each side learns. The supplier's result file has exactly two columns,
``account_reference`` and ``result``; no benefit detail, no DWP identifier,
no rule name leaves the hub. DWP learns nothing of the supplier's customers:
the upload, the part files and the result are held under the hub's data
directory for the submitting body alone, and the one decision recorded for the
job (``request_access``, action ``eligibility.check``, records = the list's
size) names as subjects only the matched claimants' pseudonymous person keys,
so those citizens see the check on their "who used my data" page, and nobody
learns anything about a customer who was not matched.

When the policy decides. Before the job is queued the request is checked
against the policy (a refusal is recorded and nothing is stored); the decision
that releases the results is taken, and recorded with its subjects, in the
transaction that marks the job succeeded. If the agreement was suspended in
the meantime, the job fails and its results are deleted unseen.

Encoded (privacy-preserving) lists. The supplier and DWP encode their records
with ``accord encode`` under the agreement's key, derived from a secret they
share and the hub never holds; DWP's encoding uses its holding's ``record_id``
as ids (``load_encoded_claimants``). The hub links the two encodings chunk by
chunk on Dice similarity (``accord.linkage.pprl.link_encoded``, match
probability >= 0.9, given names, NINO or date of birth compared on both sides),
then keeps only the matched DWP records its plaintext holding says qualify,
and names them in the audit log by their NINO's person key as above.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from sqlalchemy.orm import Session

from accord.clock import utcnow
from accord.durations import to_timedelta
from accord.errors import Conflict, Forbidden, InvalidInput, NotFound
from accord.linkage import standardise as std
from accord.policy import AccessRequest, decide
from accord.policy.context import SqlPolicyContext
from accord.registry.agreements import disclosed_fields, get_agreement
from accord.registry.datasets import get_dataset
from accord.runtime import Hub
from accord.services import holdings, jobs
from accord.services.access import request_access
from accord.storage.tables.jobs import Job

KIND = "eligibility"
ACTION = "eligibility.check"
ELIGIBLE, NOT_MATCHED = "eligible", "not matched"
RESULT_COLUMNS = ("account_reference", "result")
REFERENCE_COLUMNS = ("account_reference", "account_ref", "account_number", "account_id")
MAX_REFERENCE = 100
FORMATS = {".csv": "csv", ".parquet": "parquet"}
MATCH_FIELDS = ("first_name", "surname", "postcode", "address", "dob", "nino")
# Column names recognised for each matching field without a mapping (the supplier's and DWP's own).
ALIASES: dict[str, tuple[str, ...]] = {
    "first_name": ("first_name", "forename", "given_name"),
    "surname": ("surname", "last_name", "family_name"),
    "postcode": ("postcode", "supply_postcode", "post_code"),
    "address": ("address", "address_line_1", "supply_address_line_1"),
    "dob": ("dob", "date_of_birth", "birth_date"),
    "nino": ("nino", "national_insurance_number"),
}
# Each set of fields that lets at least one rule fire; a list must have one of them.
USABLE = (
    ("nino", "surname"),
    ("nino", "dob"),
    ("dob", "surname", "postcode"),
    ("first_name", "surname", "postcode"),
    ("first_name", "surname", "address"),
)
RULES = ("nino", "dob+surname+postcode", "names+postcode", "names+address", "similar-names+address")
SIMILAR = 0.92


# ------------------------------------------------------------------ the agreement's terms


@dataclass(frozen=True)
class Terms:
    """What a job runs under: the agreement, the source dataset, and the fields that are the condition."""

    agreement_id: str
    purpose: str
    dataset_id: str
    condition: tuple[str, ...]
    retention: str


def terms_for(session: Session, agreement_id: str, body_id: str) -> Terms:
    """Read the agreement: which dataset holds the condition, and which of its fields it is.

    An agreement the body cannot see (another body's draft, or none) is not found;
    whether the body may use it is the policy's to decide, and recorded.
    """
    if len(agreement_id) > 64 or not agreement_id.isprintable():
        raise NotFound(f"no agreement '{agreement_id}' exists")
    agreement = get_agreement(session, agreement_id)
    if agreement.status == "draft" and body_id not in {p.body_id for p in agreement.parties}:
        raise NotFound(f"no agreement '{agreement_id}' exists")
    conditions: dict[str, tuple[str, ...]] = {}
    for dataset_id, names in disclosed_fields(agreement).items():
        dataset = get_dataset(session, dataset_id)
        types = {f.name: (f.category, f.type) for f in dataset.fields}
        flags = tuple(n for n in names if types.get(n) == ("attribute", "boolean"))
        if flags:
            conditions[dataset_id] = flags
    if len(conditions) != 1:
        raise InvalidInput(
            f"agreement '{agreement_id}' must disclose yes/no attribute fields (the eligibility condition) from "
            f"exactly one dataset to run eligibility checks; it does from {len(conditions)}"
        )
    (dataset_id, condition), = conditions.items()
    purpose = agreement.gateway + (f":{agreement.objective}" if agreement.objective else "")
    return Terms(agreement.id, purpose, dataset_id, condition, agreement.retention)


def _access_request(terms: Terms, body_id: str, officer: str, records: int, subjects: tuple[str, ...] = ()):
    return AccessRequest(
        body_id=body_id,
        officer=officer,
        action=ACTION,
        dataset_id=terms.dataset_id,
        purpose=terms.purpose,
        fields=terms.condition,
        records=records,
        agreement_id=terms.agreement_id,
        subjects=subjects,
    )


def precheck(hub: Hub, terms: Terms, *, body_id: str, officer: str, records: int, request_id: str,
             client_id: str | None, now: datetime) -> None:
    """Refuse a submission the policy would refuse, before anything is stored.

    A refusal is recorded (decision and audit entry); an allowance is not yet: the
    decision that counts is taken when the results are released.
    """
    with hub.transaction() as session:
        request = _access_request(terms, body_id, officer, records)
        if decide(SqlPolicyContext(session, hub.framework), request, now).allowed:
            return
        decision, _record = request_access(
            session, hub.framework, request, now=now, request_id=request_id, client_id=client_id
        )
    raise Forbidden(f"the eligibility check is refused: {'; '.join(decision.reasons)}")


# ------------------------------------------------------------------ reading and validating an upload


def _connect(scratch: Path | None = None, memory: str = "2GB") -> duckdb.DuckDBPyConnection:
    config = {"memory_limit": memory, "threads": 2}
    if scratch is not None:
        config["temp_directory"] = str(scratch)
    return duckdb.connect(config=config)


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def read_upload(source: Path, fmt: str, name: str) -> pa.Table:
    """The whole file as text columns (CSV) or its own types (Parquet); one clear error if unreadable."""
    with _connect() as connection:
        try:
            if fmt == "csv":
                relation = connection.sql(
                    "SELECT * FROM read_csv(?, header = true, all_varchar = true, auto_detect = true)",
                    params=[str(source)],
                )
            else:
                relation = connection.sql("SELECT * FROM read_parquet(?)", params=[str(source)])
            return relation.to_arrow_table()
        except duckdb.Error as exc:
            raise InvalidInput(f"{name}: cannot be read as {fmt.upper()} ({_first_line(exc)})") from None


def _resolve_columns(columns: list[str], mapping: dict[str, str], reference: str | None,
                     name: str) -> tuple[str, dict[str, str]]:
    """The account reference column and {matching field: column}, from the mapping and known names."""
    unknown = [f for f in mapping if f not in MATCH_FIELDS]
    if unknown:
        raise InvalidInput(f"{name}: '{unknown[0]}' is not a matching field (fields: {', '.join(MATCH_FIELDS)})")
    for wanted in [*mapping.values(), *([reference] if reference else [])]:
        if wanted not in columns:
            raise InvalidInput(f"{name}: column '{wanted}' is not in the file (columns: {', '.join(columns)})")
    if reference is None:
        found = [c for c in REFERENCE_COLUMNS if c in columns]
        if not found:
            raise InvalidInput(
                f"{name}: no account reference column (name it one of {', '.join(REFERENCE_COLUMNS)}, "
                "or say which with the reference option)"
            )
        reference = found[0]
    resolved = dict(mapping)
    for field_name, names in ALIASES.items():
        if field_name not in resolved:
            present = [c for c in names if c in columns and c != reference]
            if present:
                resolved[field_name] = present[0]
    if not any(all(f in resolved for f in usable) for usable in USABLE):
        raise InvalidInput(
            f"{name}: not enough identifiers to match on; the file needs columns for first_name, surname and "
            "postcode (or address), or for nino with surname or dob, or for dob, surname and postcode "
            f"(columns: {', '.join(columns)})"
        )
    return reference, {f: resolved[f] for f in MATCH_FIELDS if f in resolved}


def _check_references(references: pa.ChunkedArray, column: str, name: str) -> pa.Array:
    text = references.cast(pa.string()).combine_chunks() if references.num_chunks else pa.array([], pa.string())
    stripped = pc.utf8_trim_whitespace(text)
    blank = pc.or_kleene(pc.is_null(stripped), pc.equal(stripped, ""))
    bad = pc.indices_nonzero(pc.fill_null(blank, True))
    if len(bad):
        raise InvalidInput(f"{name}: row {bad[0].as_py() + 1}, column '{column}': the account reference is empty")
    too_long = pc.indices_nonzero(pc.greater(pc.utf8_length(stripped), MAX_REFERENCE))
    if len(too_long):
        raise InvalidInput(
            f"{name}: row {too_long[0].as_py() + 1}, column '{column}': an account reference is longer than "
            f"{MAX_REFERENCE} characters"
        )
    control = pc.indices_nonzero(pc.match_substring_regex(stripped, r"[\x00-\x1f\x7f]"))
    if len(control):
        raise InvalidInput(
            f"{name}: row {control[0].as_py() + 1}, column '{column}': the account reference contains control characters"
        )
    if pc.count_distinct(stripped).as_py() != len(stripped):
        with _connect() as connection:
            connection.register("refs", pa.table({"ref": stripped, "row": pa.array(range(1, len(stripped) + 1))}))
            rows = connection.execute(
                "SELECT row, first_row FROM (SELECT row, min(row) OVER (PARTITION BY ref) AS first_row FROM refs) "
                "WHERE row > first_row ORDER BY row LIMIT 1"
            ).fetchall()
        row, first = rows[0]
        raise InvalidInput(
            f"{name}: row {row}, column '{column}': the account reference repeats row {first}; each account may "
            "appear once"
        )
    return stripped


def _text_column(values: pa.ChunkedArray) -> pa.Array:
    if pa.types.is_string(values.type) or pa.types.is_large_string(values.type):
        out = values
    else:
        try:
            out = values.cast(pa.string())
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            raise InvalidInput("a matching column holds values that are not text") from None
    out = out.combine_chunks() if isinstance(out, pa.ChunkedArray) and out.num_chunks else out
    return out if not isinstance(out, pa.ChunkedArray) else pa.array([], pa.string())


def validate(table: pa.Table, *, mapping: dict[str, str] | None = None, reference: str | None = None,
             name: str = "upload") -> pa.Table:
    """A customer list checked whole and put in the form jobs read: ``_row``, ``account_reference``
    and one column per matching field the list has (dates of birth parsed). Raises InvalidInput
    naming the row and column at fault; never includes a value in the message."""
    if table.num_rows == 0:
        raise InvalidInput(f"{name}: the file has no customer rows")
    reference, resolved = _resolve_columns(table.column_names, dict(mapping or {}), reference, name)
    columns = {
        "_row": pa.array(range(table.num_rows), type=pa.int64()),
        "account_reference": _check_references(table.column(reference), reference, name),
    }
    for field_name, column in resolved.items():
        values = table.column(column)
        if field_name == "dob":
            if not (pa.types.is_date(values.type) or pa.types.is_timestamp(values.type)):
                values = values.cast(pa.string())
            try:
                parsed = std.standardise_dates(values, column=column)
            except InvalidInput as refused:
                raise InvalidInput(f"{name}: {refused.detail}") from None
            columns["dob"] = pa.array(parsed.values, type=pa.date32()) if isinstance(parsed.values, list) \
                else parsed.values
        else:
            try:
                columns[field_name] = _text_column(values)
            except InvalidInput:
                raise InvalidInput(f"{name}: column '{column}' holds values that are not text") from None
    return pa.table(columns)


@dataclass
class Staged:
    """A validated upload written where its job will read it."""

    job_id: str
    directory: Path
    rows: int
    fields: tuple[str, ...]
    sha256: str
    encoded: bool = False


def stage(hub: Hub, source: Path, fmt: str, *, mapping: dict[str, str] | None = None,
          reference: str | None = None, name: str | None = None, agreement_id: str | None = None) -> Staged:
    """Validate a customer list and write it as the input of a job not yet created.

    A list encoded with ``accord encode`` (Parquet with its encoding parameters)
    is checked against the agreement and DWP's encoding instead. Nothing is
    written unless the whole file is valid; the caller deletes the directory if
    the job is then not created (``jobs.sweep_orphans`` does too).
    """
    name = name or source.name
    if fmt not in FORMATS.values():
        raise InvalidInput(f"{name}: send the customer list as CSV or Parquet")
    if not source.is_file():
        raise InvalidInput(f"{name}: no such file")
    encoded = is_encoded_list(source, fmt)
    if encoded:
        if agreement_id is None:
            raise InvalidInput(f"{name}: an encoded list needs the agreement it was encoded for")
        table = validate_encoded(hub, source, agreement_id, name)
    else:
        table = validate(read_upload(source, fmt, name), mapping=mapping, reference=reference, name=name)
    job_id = jobs.new_job_id()
    directory = jobs.job_dir(hub, job_id)
    directory.mkdir(parents=True, exist_ok=False)
    temp = directory / ".input.parquet.tmp"
    pq.write_table(table, temp, compression="zstd", row_group_size=65_536)
    os.replace(temp, directory / "input.parquet")
    digest = _sha256(source)
    fields = tuple(c for c in table.column_names if c in MATCH_FIELDS)
    return Staged(job_id, directory, table.num_rows, fields, digest, encoded)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def is_encoded_list(source: Path, fmt: str) -> bool:
    """True for a Parquet file made by ``accord encode`` (Bloom filters, with its encoding parameters)."""
    if fmt != "parquet":
        return False
    try:
        from accord.linkage import pprl
    except ImportError:  # the linkage engine without privacy-preserving linkage
        return False
    try:
        schema = pq.read_schema(source)
    except (OSError, pa.ArrowException):
        return False
    return pprl.is_encoded(schema)


def submit(hub: Hub, source: Path, *, agreement_id: str, body_id: str, officer: str,
           mapping: dict[str, str] | None = None, reference: str | None = None, request_id: str | None = None,
           client_id: str | None = None, name: str | None = None, chunk_rows: int | None = None) -> dict:
    """Validate, check the policy and queue a job in one go (the CLI's path; the API adds idempotency)."""
    fmt = FORMATS.get(source.suffix.lower())
    name = name or str(source)
    if fmt is None:
        raise InvalidInput(f"{name}: expected a .csv or .parquet file")
    now = utcnow()
    request_id = request_id or jobs.new_job_id().replace("job-", "req-")
    with hub.transaction() as session:
        terms = terms_for(session, agreement_id, body_id)
    staged = stage(hub, source, fmt, mapping=mapping, reference=reference, name=name, agreement_id=agreement_id)
    try:
        precheck(hub, terms, body_id=body_id, officer=officer, records=staged.rows, request_id=request_id,
                 client_id=client_id, now=now)
        with hub.transaction() as session:
            job = create_job(session, hub, staged, terms, body_id=body_id, officer=officer, client_id=client_id,
                             request_id=request_id, now=now, chunk_rows=chunk_rows)
            return jobs.view(job, now)
    except BaseException:
        jobs.delete_work_files(staged.directory)
        raise


def create_job(session: Session, hub: Hub, staged: Staged, terms: Terms, *, body_id: str, officer: str,
               client_id: str | None, request_id: str, now: datetime, chunk_rows: int | None = None) -> Job:
    return jobs.create(
        session,
        job_id=staged.job_id,
        kind=KIND,
        agreement_id=terms.agreement_id,
        body_id=body_id,
        officer=officer,
        client_id=client_id,
        request_id=request_id,
        params={"fields": list(staged.fields), "upload_sha256": staged.sha256, "encoded": staged.encoded},
        total=staged.rows,
        chunk_rows=chunk_rows or hub.settings.job_chunk_rows,
        now=now,
    )


# ------------------------------------------------------------------ encoded (privacy-preserving) lists


def _pprl():  # noqa: ANN202 - the linkage engine's PPRL module, or a clear refusal without it
    try:
        from accord.linkage import pprl
    except ImportError:
        raise InvalidInput("privacy-preserving linkage (accord.linkage.pprl) is not installed on this hub") from None
    return pprl


def encoded_claimants_path(hub: Hub, agreement_id: str) -> Path:
    return hub.settings.data_dir / "eligibility" / f"{agreement_id}.claimants.pprl.parquet"


def load_encoded_claimants(hub: Hub, agreement_id: str, body_id: str, source: Path, name: str | None = None) -> dict:
    """The source body's own encoding of its claimants, for linking encoded customer lists.

    Made with ``accord encode`` under the agreement's key (the secret the parties
    share and the hub never holds), with the holding's ``record_id`` as ids, so the
    hub can tell from its plaintext holding which matched records qualify and
    whom to name in the audit log. Only the body that holds the dataset may send it.
    """
    pprl = _pprl()
    name = name or source.name
    with hub.transaction() as session:
        terms = terms_for(session, agreement_id, body_id)
        owner = get_dataset(session, terms.dataset_id).body_id
    if body_id != owner:
        raise Forbidden(f"only {owner}, which holds {terms.dataset_id}, may provide its encoding")
    table = pprl.read_encoded(source, name)
    params = pprl.encoding_of(table.schema, name)
    if params.get("agreement_id") != agreement_id:
        raise InvalidInput(f"{name}: encoded for agreement {params.get('agreement_id')!r}, not {agreement_id!r}; "
                           f"encode it again with --agreement {agreement_id}")
    _check_references(table.column("id"), "id", name)
    target = encoded_claimants_path(hub, agreement_id)
    target.parent.mkdir(parents=True, exist_ok=True)
    temp = target.with_name(f".{target.name}.tmp")
    pq.write_table(table, temp, compression="zstd")
    os.replace(temp, target)
    return {"agreement_id": agreement_id, "dataset_id": terms.dataset_id, "rows": table.num_rows,
            "key_version": params.get("key_version"), "key_fingerprint": params.get("key_fingerprint")}


def validate_encoded(hub: Hub, source: Path, agreement_id: str, name: str) -> pa.Table:
    """An encoded customer list checked whole: encoded for this agreement, with the same parameters and
    key as DWP's encoding, and one non-empty, unique account reference (its ``id``) per row."""
    pprl = _pprl()
    table = pprl.read_encoded(source, name)
    params = pprl.encoding_of(table.schema, name)
    if params.get("agreement_id") != agreement_id:
        raise InvalidInput(f"{name}: encoded for agreement {params.get('agreement_id')!r}, not {agreement_id!r}")
    if table.num_rows == 0:
        raise InvalidInput(f"{name}: the file has no customer rows")
    claimants = encoded_claimants_path(hub, agreement_id)
    if not claimants.is_file():
        raise Conflict(f"{name}: the list is encoded, but the discloser has not provided an encoding of its "
                       f"claimants for agreement {agreement_id} to link it with; send plain identifiers, or "
                       "ask it to (accord eligibility claimants)")
    theirs = pprl.encoding_of(pq.read_schema(claimants), "the claimants' encoding")
    try:
        pprl.check_compatible(params, theirs)
    except InvalidInput as refused:
        raise InvalidInput(f"{name}: cannot be linked with the claimants' encoding: {refused.detail}") from None
    references = _check_references(table.column("id"), "id", name)
    filters = [c for c in table.column_names if c.startswith("bf_")]
    out = pa.table({"_row": pa.array(range(table.num_rows), type=pa.int64()), "account_reference": references,
                    **{c: table.column(c) for c in filters}})
    return out.replace_schema_metadata(table.schema.metadata)


# ------------------------------------------------------------------ standardising for the match


def _forms(names: pa.Array) -> pa.Array:
    """Each standardised given name's equivalent forms (itself and formal names), once per distinct name."""
    encoded = pc.dictionary_encode(names)
    forms = pa.array([sorted(std.first_name_forms(v)) if v else None for v in encoded.dictionary.to_pylist()],
                     type=pa.list_(pa.string()))
    return forms.take(encoded.indices)


def _head(names: pa.Array) -> pa.Array:
    return pc.list_element(pc.split_pattern(names, " "), 0) if len(names) else names


def standardise_side(table: pa.Table, fields: dict[str, str], keep: dict[str, str]) -> pa.Table:
    """Standard matching columns from ``table``: fn (given name, first word), forms, sur (surname
    without spaces), pc, addr, dob, nino; absent fields are NULL columns, so every rule's SQL is the same."""
    n = table.num_rows
    out: dict[str, pa.Array] = {alias: table.column(column) for alias, column in keep.items()}

    def text(field_name: str) -> pa.Array | None:
        column = fields.get(field_name)
        if column is None:
            return None
        values = table.column(column)
        if not pa.types.is_string(values.type):
            values = values.cast(pa.string())
        return values.combine_chunks() if values.num_chunks else pa.array([], pa.string())

    first = text("first_name")
    given = _head(std.standardise_names(first)) if first is not None else pa.nulls(n, pa.string())
    out["fn"] = given
    out["forms"] = _forms(given) if first is not None else pa.nulls(n, pa.list_(pa.string()))
    surname = text("surname")
    out["sur"] = (pc.replace_substring(std.standardise_names(surname), " ", "") if surname is not None
                  else pa.nulls(n, pa.string()))
    for field_name, alias, fn in (("postcode", "pc", std.standardise_postcodes),
                                  ("address", "addr", std.standardise_addresses),
                                  ("nino", "nino", std.standardise_ninos)):
        values = text(field_name)
        out[alias] = fn(values) if values is not None else pa.nulls(n, pa.string())
    if "dob" in fields:
        dob = table.column(fields["dob"])
        if not pa.types.is_date32(dob.type):
            dob = std.standardise_dates(dob if pa.types.is_date(dob.type) or pa.types.is_timestamp(dob.type)
                                        else dob.cast(pa.string()), column=fields["dob"], tolerance=1.0).values
            dob = pa.array(dob, type=pa.date32()) if isinstance(dob, list) else dob
        out["dob"] = dob
    else:
        out["dob"] = pa.nulls(n, pa.date32())
    return pa.table(out)


_DOB_OK = "(c.dob IS NULL OR k.dob IS NULL OR c.dob = k.dob)"
# "12 Park Road" is in hundreds of towns: without the postcode, the address must be in the same district.
_DISTRICT_OK = "(c.pc IS NULL OR k.pc IS NULL OR split_part(c.pc, ' ', 1) = split_part(k.pc, ' ', 1))"
MATCH_SQL = f"""
WITH cf AS (SELECT _row, unnest(forms) AS form, sur, pc, addr, dob FROM chunk WHERE forms IS NOT NULL),
hits AS (
    SELECT c._row, k.ckey FROM chunk c JOIN claimants k ON c.nino = k.nino WHERE c.sur = k.sur OR c.dob = k.dob
    UNION ALL
    SELECT c._row, k.ckey FROM chunk c JOIN claimants k ON c.dob = k.dob AND c.sur = k.sur AND c.pc = k.pc
    UNION ALL
    SELECT c._row, k.ckey FROM cf c JOIN claimant_forms k ON c.form = k.form AND c.sur = k.sur AND c.pc = k.pc
        WHERE {_DOB_OK}
    UNION ALL
    SELECT c._row, k.ckey FROM cf c JOIN claimant_forms k ON c.form = k.form AND c.sur = k.sur AND c.addr = k.addr
        WHERE {_DOB_OK} AND {_DISTRICT_OK}
    UNION ALL
    SELECT c._row, k.ckey FROM chunk c JOIN claimants k ON c.pc = k.pc AND c.addr = k.addr
        WHERE jaro_winkler_similarity(c.fn, k.fn) >= {SIMILAR} AND jaro_winkler_similarity(c.sur, k.sur) >= {SIMILAR}
        AND {_DOB_OK}
),
matched AS (SELECT DISTINCT h._row, k.nino FROM hits h JOIN claimants k USING (ckey))
SELECT c._row, c.account_reference, m._row IS NOT NULL AS eligible,
       list(DISTINCT m.nino) FILTER (WHERE m.nino IS NOT NULL) AS ninos
FROM chunk c LEFT JOIN matched m USING (_row)
GROUP BY ALL ORDER BY c._row
"""


# ------------------------------------------------------------------ the job


def claimant_fields(columns: list[str]) -> dict[str, str]:
    found = {}
    for field_name, names in ALIASES.items():
        present = [c for c in names if c in columns]
        if present:
            found[field_name] = present[0]
    return found


def prepare_claimants(hub: Hub, terms: Terms, target: Path) -> int:
    """The qualifying claimants, standardised for matching, written once per job (resumes reuse it).

    Only rows meeting the condition are read out of DWP's holding; NINOs are kept
    (hub-side, deleted with the job's work files) to name matched people in the audit log.
    """
    source = holdings.holding_path(hub, terms.dataset_id)
    with _connect(target.parent) as connection:
        columns = [r[0] for r in connection.execute("DESCRIBE SELECT * FROM read_parquet(?)", [str(source)]).fetchall()]
        missing = [c for c in terms.condition if c not in columns]
        if missing:
            raise InvalidInput(f"DWP's holding of {terms.dataset_id} lacks the condition field(s) {', '.join(missing)}")
        fields = claimant_fields(columns)
        if not any(all(f in fields for f in usable) for usable in USABLE):
            raise InvalidInput(f"the holding of {terms.dataset_id} has too few identifiers to match on")
        condition = " OR ".join(f'"{c}" IS TRUE' for c in terms.condition)
        select = ", ".join(f'"{column}"' for column in fields.values())
        table = connection.sql(f"SELECT {select} FROM read_parquet(?) WHERE {condition}", params=[str(source)]
                               ).to_arrow_table()
    prepared = standardise_side(table, fields, {})
    prepared = prepared.drop(["forms"]).append_column("forms", prepared.column("forms"))
    prepared = prepared.add_column(0, "ckey", pa.array(range(prepared.num_rows), type=pa.int64()))
    temp = target.with_suffix(".tmp")
    pq.write_table(prepared, temp, compression="zstd")
    os.replace(temp, target)
    return prepared.num_rows


@dataclass
class EligibilityWork:
    """One claim's run of an eligibility job: the qualifying claimants loaded once, then chunk by chunk."""

    hub: Hub
    job: Job
    terms: Terms
    directory: Path
    connection: duckdb.DuckDBPyConnection = field(init=False)

    def __post_init__(self) -> None:
        claimants = self.directory / "claimants.parquet"
        if not claimants.is_file():
            prepare_claimants(self.hub, self.terms, claimants)
        self.connection = _connect(self.directory)
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
        keys = [
            sorted({self.hub.person_key("nino", nino) for nino in ninos if std.standardise_nino(nino)})
            if ninos else []
            for ninos in found.column("ninos").to_pylist()
        ]
        part = pa.table({
            "_row": found.column("_row"),
            "account_reference": found.column("account_reference"),
            "eligible": found.column("eligible"),
            "person_keys": pa.array(keys, type=pa.list_(pa.string())),
        })
        target = jobs.part_path(self.directory, index)
        target.parent.mkdir(exist_ok=True)
        temp = target.with_suffix(".tmp")
        pq.write_table(part, temp, compression="zstd")
        os.replace(temp, target)
        return part.num_rows

    def finish(self, session: Session, job: Job, now: datetime) -> None:
        """Assemble the result, then decide and record its release with the matched people as subjects."""
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
        subjects = tuple(
            key for (key,) in self.connection.execute(
                "SELECT DISTINCT unnest(person_keys) FROM read_parquet(?) ORDER BY 1", [parts]).fetchall()
        )
        decision, record = request_access(
            session,
            self.hub.framework,
            _access_request(self.terms, job.body_id, job.officer, job.total, subjects),
            now=now,
            request_id=job.request_id,
            client_id=job.client_id,
        )
        if not decision.allowed:
            temp.unlink(missing_ok=True)
            job.state = "failed"
            job.error = "the results were not released: " + "; ".join(decision.reasons)
            job.summary = {}
            return
        os.replace(temp, result)
        retention = decision.obligations.get("retention") or self.terms.retention
        job.state = "succeeded"
        job.result_location = str(result)
        job.expires_at = now + to_timedelta(retention, now)
        job.summary = {"eligible": int(eligible), "not_matched": int(rows - eligible), "decision_id": record.id}

    def close(self) -> None:
        self.connection.close()


PPRL_THRESHOLD = 0.9
# A match needs given names, NINO or date of birth compared on both sides: surname and address alone
# are anyone in the household, as in the plain rules.
PPRL_PERSON_FIELDS = ("first_name", "nino", "dob")


class EncodedWork(EligibilityWork):
    """An encoded list: each chunk linked with DWP's encoding on Dice similarity (``pprl.link_encoded``);
    matched DWP records count when the plaintext holding says they qualify."""

    def __post_init__(self) -> None:
        self.pprl = _pprl()
        claimants = self.directory / "claimants.pprl.parquet"
        if not claimants.is_file():  # a copy per job, so a resumed job links with what it started with
            source = encoded_claimants_path(self.hub, self.terms.agreement_id)
            if not source.is_file():
                raise InvalidInput(f"the claimants' encoding for {self.terms.agreement_id} has been withdrawn")
            temp = claimants.with_name(".claimants.tmp")
            shutil.copyfile(source, temp)
            os.replace(temp, claimants)
        self.right = pq.read_table(claimants)
        self.connection = _connect(self.directory)
        holding = holdings.holding_path(self.hub, self.terms.dataset_id)
        columns = [r[0] for r in self.connection.execute("DESCRIBE SELECT * FROM read_parquet(?)",
                                                         [str(holding)]).fetchall()]
        if "record_id" not in columns:
            raise InvalidInput(f"the holding of {self.terms.dataset_id} has no record_id to link encodings to")
        condition = " OR ".join(f'"{c}" IS TRUE' for c in self.terms.condition)
        nino = '"nino"' if "nino" in columns else "NULL"
        self.connection.execute(
            f"CREATE TABLE qualifying AS SELECT CAST(record_id AS VARCHAR) AS record_id, {nino} AS nino "
            f"FROM read_parquet(?) WHERE {condition}", [str(holding)])
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
                    SELECT DISTINCT l.left_id, q.nino FROM links l JOIN qualifying q ON q.record_id = l.right_id
                    WHERE {compared})
                SELECT c._row, c.account_reference, bool_or(m.left_id IS NOT NULL) AS eligible,
                       list(DISTINCT m.nino) FILTER (WHERE m.nino IS NOT NULL) AS ninos
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
