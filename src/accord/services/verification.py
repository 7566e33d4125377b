"""Identity verification, electoral-registration style: a grade, never the record.

A body (a council's electoral registration office) sends an applicant's
details; Accord standardises them, asks the decision point whether the body may
check them against the source body's records under the agreement it names
(action ``identity.verify``), and only if allowed compares them with the source
body's current holding (``accord.services.holdings``) using the deterministic
cascade (``accord.linkage.deterministic``), then, for a check the cascade does
not call a match, the agreement's probabilistic model if one is trained. The
answer is the grade (match / partial / no match) and the names of the
applicant's fields that agreed:
nothing from the source record, not even its id, leaves this module.

Order of work, and why:

1. ``prepare``: validate and standardise the applicants, resolve the agreement
   to the dataset and purpose it governs, and make sure the holding's blocking
   index is in memory. Nothing here touches the source body's records except
   (re)building the index, which is the hub's own working copy; no result
   exists yet. Doing this outside the write transaction keeps the group
   committer's one writer thread free of slow work.
2. ``propose`` then ``record`` (``decide_and_match`` is both), in the caller's
   transaction: ``propose`` asks the decision point (``decide_access``) and, only
   if it allows, matches using only the fields the decision permits; it only
   reads, so under group commit it runs before the batch takes the write lock.
   ``record`` claims any daily limit and records the decision in the decisions
   table and the audit log (``record_access``); the results are answered only
   if the decision is still allowed. The decision, its audit entry and the
   access commit together.

The applicant as the audit subject: a pseudonymous key from the applicant's
NINO when one is given (the key citizens sign in with, so they see the check on
their "who used my data" page); otherwise a key over the standardised surname,
canonical given name (Bill and William alike), date of birth and postcode,
scheme ``applicant-identity``, which an auditor given the details can recompute.
When a check matches a source record whose NINO gives a different key (the
applicant gave no NINO, or a mistyped one), a second entry, kind
``verification.match``, names that person too, in the same transaction, so the
person whose record was used sees the check.

Deny by default: an unknown agreement, one another body's draft, one not active
(in consultation, suspended), or a body that is not its recipient, gets a
refusal, recorded and audited exactly like an allowed check.

Blocking index: per holding file, keyed by the file's identity (path, inode,
size, modification time), so a new load (written beside the old file and
renamed over it) is noticed on the next call and the index rebuilt once. The
standardised identity columns stay in Arrow; each blocking key (NINO, date of
birth, postcode) is a dict from value to a slice of a sorted row-number array,
so a check costs a few dict lookups and the cascade over a handful of rows.

Probabilistic stage: a check the cascade does not call a match goes on to the
agreement's probabilistic model, when one has been trained from past
applications (``accord.services.verification_model``). It scores the applicant
against the same candidates and those sharing the given name and surname, and
may raise the grade (to match at probability 0.999 for one person, from no
match to partial at 0.5); it never lowers one.
"""

from __future__ import annotations

import csv
import io
import os
import tempfile
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
from sqlalchemy.orm import Session

from accord.audit.log import AuditRecord, append
from accord.errors import InvalidInput, NotFound
from accord.linkage.deterministic import MATCH, verify
from accord.linkage.pairwise import PairScorer
from accord.linkage.standardise import (
    canonical_first_name,
    canonical_first_names,
    parse_date,
    standardise_address,
    standardise_name,
    standardise_nino,
    standardise_postcode,
    standardise_table,
)
from accord.policy import AccessRequest, Decision
from accord.registry.agreements import get_agreement
from accord.runtime import Hub
from accord.services.access import ProposedDecision, decide_access, record_access
from accord.services.holdings import ROW_KEY, holding_path
from accord.services.linkage_models import StoredModel, check_agreement_in_force
from accord.services.verification_model import MODELS, second_stage, term_frequencies
from accord.services.verification_model import train_model as train_model_on
from accord.storage.models import Dataset

ACTION = "identity.verify"
# What an applicant may give.
APPLICANT_FIELDS = ("first_name", "middle_name", "surname", "dob", "postcode", "address", "nino")
REQUIRED_FIELDS = ("first_name", "surname", "dob", "postcode")
# The fields the cascade compares (address is accepted but not compared; see the guide).
COMPARED_FIELDS = ("nino", "first_name", "middle_name", "surname", "dob", "postcode")
BLOCKING_KEYS = ("nino", "dob", "postcode")
# The probabilistic stage also looks at records with the same given name (canonical) and surname: a person
# whose date of birth was mistyped and who has moved shares no key with the cascade's.
# A name held by more records than this (John Smith, nationally) finds too many to score in a check's
# time; such a name finds candidates only through the other keys.
NAME_KEY, MAX_NAME_BLOCK = "names", 500
SECOND_STAGE_KEYS = BLOCKING_KEYS + (NAME_KEY,)
# A dataset's registered field that holds a standard field, when not named as one.
FIELD_ALIASES: dict[str, tuple[str, ...]] = {
    "first_name": ("first_name", "forename", "given_name", "first_names"),
    "middle_name": ("middle_name", "middle_names"),
    "surname": ("surname", "last_name", "family_name"),
    "dob": ("dob", "date_of_birth", "birth_date"),
    "postcode": ("postcode", "post_code", "supply_postcode"),
    "nino": ("nino", "national_insurance_number"),
}
SUBJECT_SCHEME = "applicant-identity"
MATCH_KIND = "verification.match"
MAX_BATCH = 10_000
TARGET_TTL_SECONDS = 2.0
UNKNOWN_PURPOSE = "unknown"

FIELD_LABELS = {
    "first_name": "first name", "middle_name": "middle name", "surname": "surname", "dob": "date of birth",
    "postcode": "postcode", "address": "address", "nino": "National Insurance number",
}


# --------------------------------------------------------------------------- applicants


def _present(value: Any) -> bool:
    return value is not None and not (isinstance(value, str) and not value.strip())


def standardise_applicant(raw: Mapping[str, Any], where: str = "applicant", today: date | None = None) -> dict:
    """One applicant's details in standard form, or InvalidInput naming every field at fault.

    Required: first_name, surname, dob, postcode; optional: middle_name, address, nino.
    Dates are YYYY-MM-DD, DD/MM/YYYY (the UK order) or YYYYMMDD. Values are never
    repeated in an error: the message names the field and says what is expected.
    """
    problems: list[str] = []
    unknown = [k for k in raw if k not in APPLICANT_FIELDS]
    for name in unknown:
        problems.append(f"{where}.{name}: not a field an applicant has (one of {', '.join(APPLICANT_FIELDS)})")
    out: dict[str, Any] = {}
    for name in APPLICANT_FIELDS:
        value = raw.get(name)
        if not _present(value):
            if name in REQUIRED_FIELDS:
                problems.append(f"{where}.{name}: enter the applicant's {FIELD_LABELS[name]}")
            continue
        if not isinstance(value, (str, date)) or (isinstance(value, str) and len(value) > 200):
            problems.append(f"{where}.{name}: must be text of at most 200 characters")
            continue
        if name in ("first_name", "middle_name", "surname"):
            std = standardise_name(value)
            if std is None:
                problems.append(f"{where}.{name}: the {FIELD_LABELS[name]} must contain letters")
        elif name == "dob":
            std = parse_date(value)
            if std is None:
                problems.append(f"{where}.dob: not a date of birth in a known format (YYYY-MM-DD or DD/MM/YYYY)")
            elif std > (today or date.today()):
                problems.append(f"{where}.dob: the date of birth is in the future")
                std = None
        elif name == "postcode":
            std = standardise_postcode(value)
            if std is None:
                problems.append(f"{where}.postcode: not a valid UK postcode (like SW1A 1AA)")
        elif name == "nino":
            std = standardise_nino(value)
            if std is None:
                problems.append(f"{where}.nino: not a valid National Insurance number (like AB123456C)")
        else:
            std = standardise_address(value)
        if std is not None:
            out[name] = std
    if problems:
        raise InvalidInput("the applicant's details are not valid", problems)
    return out


def subject_key(hub: Hub, applicant: Mapping[str, Any]) -> str:
    """The applicant's pseudonymous audit key (see the module docstring for the choice)."""
    if applicant.get("nino"):
        return hub.person_key("nino", applicant["nino"])
    dob = applicant.get("dob")
    identity = "|".join([
        applicant.get("surname") or "",
        canonical_first_name(applicant.get("first_name")) or "",
        dob.isoformat() if isinstance(dob, date) else "",
        applicant.get("postcode") or "",
    ])
    return hub.person_key(SUBJECT_SCHEME, identity)


# --------------------------------------------------------------------------- batch files

REFERENCE_COLUMN = "reference"
RESULT_COLUMNS = ("reference", "grade", "agreed")
_MAX_ROW_PROBLEMS = 5


def _read_table(data: bytes, name: str) -> pa.Table:
    """A CSV or Parquet file of applications, every column as text except dates already typed."""
    suffix = Path(name).suffix.lower()
    try:
        if data[:4] == b"PAR1" or suffix == ".parquet":
            table = pq.read_table(io.BytesIO(data))
        elif suffix in (".csv", ".txt", ""):
            table = pa_csv.read_csv(io.BytesIO(data))
        else:
            raise InvalidInput(f"{name}: expected a .csv or .parquet file of applications")
    except (pa.ArrowInvalid, OSError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        kind = "Parquet" if (data[:4] == b"PAR1" or suffix == ".parquet") else "CSV"
        raise InvalidInput(f"{name}: cannot be read as {kind} ({first})") from None
    columns = []
    for column_name, column in zip(table.column_names, table.columns):
        kind = column.type
        if pa.types.is_binary(kind) or pa.types.is_large_binary(kind):
            raise InvalidInput(f"{name}: column '{column_name}' is not UTF-8 text")
        if not (pa.types.is_date(kind) or pa.types.is_timestamp(kind) or pa.types.is_string(kind)):
            try:
                column = column.cast(pa.string())
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                raise InvalidInput(f"{name}: column '{column_name}' cannot be read as text") from None
        columns.append(column)
    return pa.table(columns, names=table.column_names)


def _batch_mapping(columns: Sequence[str], mapping: Mapping[str, str] | None, name: str) -> dict[str, str]:
    """{standard field: column}: the user's mapping, then columns named as a field or a known alias."""
    mapping = dict(mapping or {})
    for std, column in mapping.items():
        if std not in APPLICANT_FIELDS:
            raise InvalidInput(f"{name}: '{std}' is not a detail an application gives (one of {', '.join(APPLICANT_FIELDS)})")
        if column not in columns:
            raise InvalidInput(f"{name}: column '{column}' (mapped to {std}) is not in the file (columns: {', '.join(columns)})")
    for std in APPLICANT_FIELDS:
        if std not in mapping:
            found = next((a for a in (std, *FIELD_ALIASES.get(std, ()), *_EXTRA_ALIASES.get(std, ())) if a in columns), None)
            if found is not None:
                mapping[std] = found
    missing = [std for std in REQUIRED_FIELDS if std not in mapping]
    if missing:
        raise InvalidInput(
            f"{name}: no column for {', '.join(missing)} (columns: {', '.join(columns)}; map one with std=column)")
    return mapping


_EXTRA_ALIASES = {"address": ("address_line_1", "address_1", "address_line1")}


def read_applications(data: bytes, name: str, *, mapping: Mapping[str, str] | None = None,
                      reference_column: str | None = None, today: date | None = None) -> list[tuple[str, dict]]:
    """A file of applications as (reference, standardised details), validated whole before anything is checked.

    Columns are the applicant fields (or known aliases such as date_of_birth, or
    ``mapping``); the reference column (default ``reference``; without one, the
    row number) must be unique and non-empty. Dates in one column are read in
    one order, detected from the data (``standardise_dates``). Any problem raises
    InvalidInput naming the file, row and column (rows count from 1, after the header).
    """
    table = _read_table(data, name)
    if table.num_rows == 0:
        raise InvalidInput(f"{name}: the file has no applications")
    if table.num_rows > MAX_BATCH:
        raise InvalidInput(f"{name}: at most {MAX_BATCH:,} applications may be checked at once; the file has {table.num_rows:,}")
    columns = table.column_names
    resolved = _batch_mapping(columns, mapping, name)
    if reference_column is not None and reference_column not in columns:
        raise InvalidInput(f"{name}: reference column '{reference_column}' is not in the file (columns: {', '.join(columns)})")
    reference_column = reference_column or (REFERENCE_COLUMN if REFERENCE_COLUMN in columns else None)
    standard = standardise_table(table, resolved, id_column=reference_column, source=name, date_tolerance=0.0).table
    today = today or date.today()
    problems: list[str] = []
    raw = {std: table.column(column).to_pylist() for std, column in resolved.items()}
    values = {std: standard.column(std).to_pylist() for std in resolved}
    references = standard.column("id").to_pylist() if reference_column else [str(i + 1) for i in range(table.num_rows)]
    seen: dict[str, int] = {}
    out: list[tuple[str, dict]] = []
    for row in range(table.num_rows):
        applicant: dict[str, Any] = {}
        reference = references[row]
        if reference is None or not str(reference).strip():
            problems.append(f"row {row + 1}, column '{reference_column}': the application reference is empty")
        elif reference in seen:
            problems.append(f"row {row + 1}, column '{reference_column}': reference repeats row {seen[reference]}")
        else:
            seen[reference] = row + 1
        for std, column in resolved.items():
            given, value = raw[std][row], values[std][row]
            if value is None:
                if _present(given):
                    problems.append(f"row {row + 1}, column '{column}': not a valid {FIELD_LABELS[std]}")
                elif std in REQUIRED_FIELDS:
                    problems.append(f"row {row + 1}, column '{column}': the {FIELD_LABELS[std]} is missing")
                continue
            if std == "dob" and value > today:
                problems.append(f"row {row + 1}, column '{column}': the date of birth is in the future")
                continue
            applicant[std] = value
        out.append((reference, applicant))
        if len(problems) >= _MAX_ROW_PROBLEMS:
            break
    if problems:
        raise InvalidInput(f"{name}: the applications are not valid", problems[:_MAX_ROW_PROBLEMS])
    return out


def results_table(results: Sequence[Result]) -> pa.Table:
    return pa.table(
        {
            "reference": pa.array([r.reference for r in results], type=pa.string()),
            "grade": pa.array([r.grade for r in results], type=pa.string()),
            "agreed": pa.array([list(r.agreed) for r in results], type=pa.list_(pa.string())),
        }
    )


def results_csv(results: Sequence[Result]) -> bytes:
    """One row per application: reference, grade, and the agreeing fields comma-separated."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(RESULT_COLUMNS)
    for result in results:
        writer.writerow([result.reference, result.grade, ",".join(result.agreed)])
    return buffer.getvalue().encode("utf-8")


def write_results(results: Sequence[Result], out: Path) -> None:
    """Write a results file (CSV or Parquet by extension) whole, or not at all: temp file, then rename."""
    suffix = out.suffix.lower()
    if suffix not in (".csv", ".parquet"):
        raise InvalidInput(f"{out}: the results file must end in .csv or .parquet")
    out.parent.mkdir(parents=True, exist_ok=True)
    handle, temp_name = tempfile.mkstemp(prefix=f".{out.name}.", suffix=suffix, dir=out.parent)
    os.close(handle)
    temp = Path(temp_name)
    try:
        if suffix == ".csv":
            temp.write_bytes(results_csv(results))
        else:
            pq.write_table(results_table(results), temp)
        os.replace(temp, out)
    finally:
        temp.unlink(missing_ok=True)


# --------------------------------------------------------------------------- the agreement and its dataset


@dataclass(frozen=True)
class Target:
    """What a verification request is decided and matched against.

    ``dataset_id`` is None when the agreement is unknown to the caller; the
    request is then still decided (and refused) and recorded.
    """

    agreement_id: str
    dataset_id: str | None
    purpose: str
    field_map: Mapping[str, str] = field(default_factory=dict)  # standard field -> dataset field
    disclosed: tuple[str, ...] = ()  # the dataset fields the agreement names


def _field_map(registered: Iterable[str]) -> dict[str, str]:
    names = list(registered)
    found = {}
    for std, aliases in FIELD_ALIASES.items():
        column = next((a for a in aliases if a in names), None)
        if column is not None:
            found[std] = column
    return found


def resolve_target(session: Session, body_id: str, is_admin: bool, agreement_id: str,
                   dataset_id: str | None = None) -> Target:
    """The dataset and purpose an agreement governs, as the caller may know them.

    Another body's draft is as absent as an unknown id (drafts are private). An
    agreement disclosing several datasets needs ``dataset_id`` to say which.
    """
    try:
        agreement = get_agreement(session, agreement_id)
    except NotFound:
        agreement = None
    if agreement is not None and agreement.status == "draft" and not is_admin:
        if body_id not in {p.body_id for p in agreement.parties}:
            agreement = None
    if agreement is None:
        return Target(agreement_id, dataset_id, UNKNOWN_PURPOSE)
    purpose = agreement.gateway + (f":{agreement.objective}" if agreement.objective else "")
    disclosed = list(dict.fromkeys(item.dataset_id for item in agreement.data))
    if dataset_id is None:
        if len(disclosed) > 1:
            raise InvalidInput(
                f"agreement '{agreement_id}' covers several datasets; name one in 'dataset' ({', '.join(disclosed)})")
        dataset_id = disclosed[0] if disclosed else None
    dataset = session.get(Dataset, dataset_id) if dataset_id else None
    registered = [f.name for f in dataset.fields] if dataset is not None else []
    disclosed = tuple(item.field_name for item in agreement.data if item.dataset_id == dataset_id)
    return Target(agreement_id, dataset_id, purpose, _field_map(registered), disclosed)


class TargetCache:
    """Resolved targets for a couple of seconds, so a busy endpoint does not re-read the agreement per call.

    Safe to be briefly stale: the decision point re-reads the agreement inside the
    write transaction and is the only authority on whether the check may run.
    """

    def __init__(self, ttl: float = TARGET_TTL_SECONDS) -> None:
        self.ttl = ttl
        self._items: dict[tuple, tuple[float, Target]] = {}

    def get(self, hub: Hub, body_id: str, is_admin: bool, agreement_id: str, dataset_id: str | None) -> Target:
        key = (id(hub), body_id, is_admin, agreement_id, dataset_id)
        now = time.monotonic()
        hit = self._items.get(key)
        if hit is not None and now - hit[0] < self.ttl:
            return hit[1]
        with hub.transaction() as session:
            target = resolve_target(session, body_id, is_admin, agreement_id, dataset_id)
        if len(self._items) > 10_000:
            self._items.clear()
        self._items[key] = (now, target)
        return target

    def clear(self) -> None:
        self._items.clear()


# --------------------------------------------------------------------------- the holding's blocking index


class HoldingIndex:
    """A source holding's identity fields, standardised, with a blocking index per key."""

    max_name_block = MAX_NAME_BLOCK

    def __init__(self, table: pa.Table, dataset_id: str) -> None:
        self.dataset_id = dataset_id
        self.table = table
        self.rows = table.num_rows
        self.fields = tuple(name for name in table.column_names if name != "id")
        # Python lists of the standardised columns: a check reads a handful of rows, and plain
        # list indexing is far cheaper per row than Arrow's take (memory: tens of bytes a value).
        self._columns = {name: table.column(name).to_pylist() for name in table.column_names}
        self._keys: dict[str, tuple[dict[Any, int], np.ndarray, np.ndarray]] = {}
        for key in BLOCKING_KEYS:
            if key in table.column_names:
                self._keys[key] = self._block(table.column(key))
        if "first_name" in table.column_names:
            canon = pa.array(canonical_first_names(table.column("first_name")), type=pa.string())
            self._columns["first_name_canon"] = canon.to_pylist()  # read by the probabilistic stage
            if "surname" in table.column_names:
                self._keys[NAME_KEY] = self._block(pc.binary_join_element_wise(
                    canon, table.column("surname").combine_chunks(), "|"))
        self._frequencies: dict[str, dict[Any, float]] = {}
        self.scorers: dict[tuple, PairScorer | None] = {}  # models compiled for this holding (verification_model)

    @staticmethod
    def _block(column: pa.ChunkedArray | pa.Array) -> tuple[dict[Any, int], np.ndarray, np.ndarray]:
        """value -> code, rows sorted by code, and each code's start offset."""
        if isinstance(column, pa.ChunkedArray):
            column = column.combine_chunks() if column.num_chunks else pa.array([], type=column.type)
        encoded = pc.dictionary_encode(column)
        codes = pc.fill_null(encoded.indices, -1).to_numpy(zero_copy_only=False).astype(np.int64)
        values = encoded.dictionary.to_pylist()
        order = np.argsort(codes, kind="stable")
        order = order[int((codes < 0).sum()):]
        counts = np.bincount(codes[codes >= 0], minlength=len(values))
        offsets = np.concatenate([[0], np.cumsum(counts)])
        return {value: i for i, value in enumerate(values)}, order, offsets

    @classmethod
    def load(cls, path: Path, dataset_id: str, field_map: Mapping[str, str]) -> "HoldingIndex":
        columns = set(pq.read_schema(path).names)
        mapping = {std: column for std, column in field_map.items() if column in columns and std in COMPARED_FIELDS}
        wanted = list(dict.fromkeys(mapping.values())) + ([ROW_KEY] if ROW_KEY in columns else [])
        raw = pq.read_table(path, columns=wanted)
        standard = standardise_table(raw, mapping, id_column=ROW_KEY if ROW_KEY in columns else None,
                                     source=f"holding {dataset_id}", date_tolerance=1.0)
        return cls(standard.table, dataset_id)

    def term_frequencies(self, column: str) -> dict[Any, float]:
        """Each value's share of the column (the probabilistic stage's term-frequency adjustment)."""
        if column not in self._frequencies:
            self._frequencies[column] = term_frequencies(self.table, column)
        return self._frequencies[column]

    def candidate_rows(self, applicant: Mapping[str, Any], keys: Sequence[str] = BLOCKING_KEYS) -> list[int]:
        found: set[int] = set()
        for key in keys:
            if key not in self._keys:
                continue
            codes, order, offsets = self._keys[key]
            value = _name_key(applicant) if key == NAME_KEY else applicant.get(key)
            if value is None:
                continue
            code = codes.get(value)
            if code is None:
                continue
            if key == NAME_KEY and offsets[code + 1] - offsets[code] > self.max_name_block:
                continue
            found.update(order[offsets[code]:offsets[code + 1]].tolist())
        return sorted(found)

    def candidates(self, applicant: Mapping[str, Any], fields: Sequence[str],
                   keys: Sequence[str] = BLOCKING_KEYS) -> list[dict]:
        """The source rows sharing one of ``keys`` with the applicant, with only ``fields`` (plus id).

        A key is used only if the applicant has it: the applicant given here holds only the
        permitted fields, so no withheld field is used to find records.
        """
        rows = self.candidate_rows(applicant, keys)
        if not rows:
            return []
        wanted = ("id", *fields, "first_name_canon") if "first_name" in fields else ("id", *fields)
        columns = [(name, self._columns[name]) for name in wanted if name in self._columns]
        return [{name: values[row] for name, values in columns} for row in rows]


def _name_key(applicant: Mapping[str, Any]) -> str | None:
    first, surname = canonical_first_name(applicant.get("first_name")), applicant.get("surname")
    return f"{first}|{surname}" if first and surname else None


class IndexCache:
    """One index per holding file, rebuilt when the file changes (a new load renames a new file over it)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._building: dict[Path, threading.Lock] = {}
        self._items: dict[Path, tuple[tuple, tuple, HoldingIndex]] = {}
        self._paths: dict[tuple[str, str], Path] = {}
        self.builds = 0

    @staticmethod
    def _identity(path: Path) -> tuple:
        stat = path.stat()
        return (stat.st_ino, stat.st_size, stat.st_mtime_ns)

    def get(self, hub: Hub, dataset_id: str, field_map: Mapping[str, str]) -> HoldingIndex:
        """The holding's index; ``NotFound`` when the source body has loaded no records."""
        where = (str(hub.settings.data_dir), dataset_id)
        path = self._paths.get(where)
        if path is None:
            path = self._paths[where] = holding_path(hub, dataset_id)  # NotFound: nothing loaded yet
        mapping_key = tuple(sorted(field_map.items()))
        try:
            identity = self._identity(path)  # one stat per check: a new load renames a new file over the old
        except FileNotFoundError:
            self._paths.pop(where, None)
            raise NotFound(f"dataset {dataset_id} has no records loaded") from None
        hit = self._items.get(path)
        if hit is not None and hit[0] == identity and hit[1] == mapping_key:
            return hit[2]
        with self._lock:
            building = self._building.setdefault(path, threading.Lock())
        with building:  # one build per file at a time; others wait for it rather than build again
            hit = self._items.get(path)
            identity = self._identity(path)
            if hit is not None and hit[0] == identity and hit[1] == mapping_key:
                return hit[2]
            index = HoldingIndex.load(path, dataset_id, field_map)
            if self._identity(path) != identity:  # replaced while reading: the next call rebuilds
                return index
            self._items[path] = (identity, mapping_key, index)
            self.builds += 1
            return index

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._paths.clear()


TARGETS = TargetCache()
INDEXES = IndexCache()


# --------------------------------------------------------------------------- deciding and matching


@dataclass(frozen=True)
class Application:
    reference: str | None
    applicant: Mapping[str, Any]  # standardised
    subject: str


@dataclass(frozen=True)
class Prepared:
    target: Target
    applications: tuple[Application, ...]
    index: HoldingIndex | None
    index_problem: str | None = None
    scorer: PairScorer | None = None  # the agreement's probabilistic model, if one is trained


@dataclass(frozen=True)
class Result:
    reference: str | None
    grade: str
    agreed: tuple[str, ...]

    def public(self) -> dict:
        return {"reference": self.reference, "grade": self.grade, "agreed": list(self.agreed)}


@dataclass(frozen=True)
class Outcome:
    decision: Decision
    decision_id: int
    request_id: str
    results: tuple[Result, ...] = ()

    @property
    def allowed(self) -> bool:
        return self.decision.allowed

    def metadata(self) -> dict:
        """What a response says about the decision: never anything from a record."""
        return {
            "decision": "allow" if self.decision.allowed else "deny",
            "decision_id": self.decision_id,
            "request_id": self.request_id,
            "agreement_id": self.decision.agreement_id,
            "decided_at": self.decision.decided_at.isoformat(),
        }


def prepare(hub: Hub, *, body_id: str, is_admin: bool, agreement_id: str, dataset_id: str | None,
            applications: Sequence[tuple[str | None, Mapping[str, Any]]], standardised: bool = False,
            targets: TargetCache | None = None) -> Prepared:
    """Validate, standardise, resolve the target and ready the index (outside any write transaction).

    ``applications`` are (reference, details) pairs; ``standardised`` says the
    details are already standard (the batch path standardises whole columns).
    """
    if not applications:
        raise InvalidInput("there are no applications to check")
    if len(applications) > MAX_BATCH:
        raise InvalidInput(f"at most {MAX_BATCH:,} applications may be checked at once; got {len(applications):,}")
    checked = []
    seen: set[str] = set()
    for position, (reference, raw) in enumerate(applications):
        where = "applicant" if len(applications) == 1 else f"applications[{position}]"
        if reference is not None:
            if reference in seen:
                raise InvalidInput("the applications are not valid", [f"{where}.reference: repeats an earlier reference"])
            seen.add(reference)
        applicant = dict(raw) if standardised else standardise_applicant(raw, where)
        checked.append(Application(reference, applicant, subject_key(hub, applicant)))
    target = (targets or TARGETS).get(hub, body_id, is_admin, agreement_id, dataset_id)
    index, problem, scorer = None, None, None
    if target.dataset_id is not None and target.purpose != UNKNOWN_PURPOSE:
        try:
            index = INDEXES.get(hub, target.dataset_id, target.field_map)
        except NotFound as missing:
            problem = missing.detail
        if index is not None:
            scorer = MODELS.scorer(hub, target.agreement_id, index)
    return Prepared(target, tuple(checked), index, problem, scorer)


def requested_fields(prepared: Prepared) -> tuple[str, ...]:
    """The source fields the check asks for: those the applicants gave that the dataset holds, and its NINO.

    The NINO is asked for even when no applicant gave one: it tells two people with
    the same name and date of birth apart (an ambiguous check is only "partial"),
    and it names the person whose record matched in the audit log. It is asked
    for only when the agreement names it, so an agreement that refuses requests
    for fields it does not name never refuses a check because of it.
    """
    given = {name for application in prepared.applications for name in application.applicant}
    field_map = prepared.target.field_map
    if field_map.get("nino") in prepared.target.disclosed:
        given.add("nino")
    fields = [field_map.get(name, name) for name in COMPARED_FIELDS if name in given]
    return tuple(dict.fromkeys(fields))


@dataclass(frozen=True)
class Proposal:
    """A check decided and, if allowed, matched, but not yet recorded (``propose``)."""

    access: AccessRequest
    proposed: ProposedDecision
    results: tuple[Result, ...]
    matched_keys: tuple[str, ...]


def propose(session: Session, hub: Hub, prepared: Prepared, *, officer: str, body_id: str, now: datetime) -> Proposal:
    """Decide, and only if allowed match: reads only, nothing is recorded yet.

    The matching uses only the fields the decision permits. Its results are kept
    only if ``record`` finds the decision still allowed (a daily limit can be used up
    between the two).
    """
    target = prepared.target
    subjects = tuple(dict.fromkeys(a.subject for a in prepared.applications))
    access = AccessRequest(
        body_id=body_id,
        officer=officer,
        action=ACTION,
        dataset_id=target.dataset_id or "",
        purpose=target.purpose,
        fields=requested_fields(prepared),
        records=len(prepared.applications),
        agreement_id=target.agreement_id,
        subjects=subjects,
    )
    proposed = decide_access(session, hub.framework, access, now=now)
    decision = proposed.decision
    if not decision.allowed:
        return Proposal(access, proposed, (), ())
    if prepared.index is None:
        # Allowed, but the source body has loaded no records: nothing is recorded, so the
        # log never shows an access that did not happen.
        raise NotFound(prepared.index_problem or f"dataset {target.dataset_id} has no records loaded")
    by_source = {column: std for std, column in target.field_map.items()}
    permitted = [by_source[f] for f in decision.permitted_fields if f in by_source]
    results, matched_keys = [], []
    for application in prepared.applications:
        applicant = {k: v for k, v in application.applicant.items() if k in permitted}
        candidates = prepared.index.candidates(applicant, permitted)
        verdict = verify(applicant, candidates)
        if verdict.grade != MATCH and prepared.scorer is not None:
            candidates = prepared.index.candidates(applicant, permitted, SECOND_STAGE_KEYS)
            verdict = second_stage(verdict, applicant, candidates, prepared.scorer)
        results.append(Result(application.reference, verdict.grade, verdict.agreed))
        if verdict.grade == MATCH:
            key = _matched_person(hub, candidates, verdict.candidate_id)
            if key is not None and key != application.subject:
                matched_keys.append(key)
    return Proposal(access, proposed, tuple(results), tuple(matched_keys))


def record(session: Session, hub: Hub, proposal: Proposal, *, request_id: str, client_id: str | None) -> Outcome:
    """Record the decision (and the people matched) in the caller's transaction; the outcome to answer."""
    decision, recorded = record_access(session, hub.framework, proposal.proposed, request_id=request_id,
                                       client_id=client_id)
    if not decision.allowed:
        return Outcome(decision, recorded.id, request_id)
    if proposal.matched_keys:
        _record_matched_people(session, hub, proposal.access, decision, list(proposal.matched_keys), request_id,
                               proposal.proposed.now)
    return Outcome(decision, recorded.id, request_id, proposal.results)


def decide_and_match(session: Session, hub: Hub, prepared: Prepared, *, officer: str, request_id: str,
                     client_id: str | None, body_id: str, now: datetime) -> Outcome:
    """Decide, record, and (only if allowed) match, in the caller's transaction."""
    proposal = propose(session, hub, prepared, officer=officer, body_id=body_id, now=now)
    return record(session, hub, proposal, request_id=request_id, client_id=client_id)


def _matched_person(hub: Hub, candidates: Sequence[Mapping[str, Any]], candidate_id: Any) -> str | None:
    """The audit key of the person whose record matched, from its NINO (only if the check could use it)."""
    if candidate_id is None:
        return None
    nino = next((c.get("nino") for c in candidates if c.get("id") == candidate_id), None)
    return hub.person_key("nino", nino) if nino else None


def _record_matched_people(session: Session, hub: Hub, access: AccessRequest, decision: Decision,
                           keys: list[str], request_id: str, now: datetime) -> None:
    """Name the people whose records a check matched, when the applicant's own key does not."""
    gateway = access.gateway if access.gateway in hub.framework.gateways else None
    append(
        session,
        AuditRecord(
            kind=MATCH_KIND,
            occurred_at=now,
            outcome="allow",
            body_id=access.body_id,
            actor=access.officer,
            purpose=access.purpose,
            purpose_iri=decision.obligations.get("dpv_purpose")
            or (hub.framework.purpose_iri(gateway, access.objective) if gateway else None),
            agreement_id=decision.agreement_id,
            action=access.action,
            dataset_id=access.dataset_id,
            subjects=tuple(dict.fromkeys(keys)),
            fields=decision.permitted_fields,
            records=len(set(keys)),
            reasons=("the check matched this person's record",),
            request_id=request_id,
            details={"grade": MATCH},
        ),
    )


def check(hub: Hub, *, body_id: str, officer: str, agreement_id: str,
          applications: Sequence[tuple[str | None, Mapping[str, Any]]], dataset_id: str | None = None,
          is_admin: bool = False, client_id: str | None = None, request_id: str, now: datetime,
          standardised: bool = False) -> Outcome:
    """Prepare, then decide and match in one committed transaction (the CLI's and the pages' path)."""
    prepared = prepare(hub, body_id=body_id, is_admin=is_admin, agreement_id=agreement_id,
                       dataset_id=dataset_id, applications=applications, standardised=standardised)
    with hub.transaction() as session:
        return decide_and_match(session, hub, prepared, officer=officer, request_id=request_id,
                                client_id=client_id, body_id=body_id, now=now)


def train_model(hub: Hub, *, agreement_id: str, applications: Path, dataset_id: str | None = None,
                mapping: Mapping[str, str] | None = None) -> StoredModel:
    """Train and store the agreement's probabilistic model from a file of past applications (an operator's task)."""
    with hub.transaction() as session:
        target = resolve_target(session, "", True, agreement_id, dataset_id)
    if target.purpose == UNKNOWN_PURPOSE:
        raise NotFound(f"no agreement '{agreement_id}'")
    if target.dataset_id is None:
        raise InvalidInput(f"agreement '{agreement_id}' discloses no dataset to check against")
    check_agreement_in_force(hub, agreement_id)
    index = INDEXES.get(hub, target.dataset_id, target.field_map)  # NotFound: no records loaded
    return train_model_on(hub, agreement_id=agreement_id, holding=index.table, compared=COMPARED_FIELDS,
                          applications=applications, mapping=mapping)


def clear_caches() -> None:
    """Forget resolved agreements and indexes (tests; an operator never needs to)."""
    TARGETS.clear()
    INDEXES.clear()
    MODELS.clear()
