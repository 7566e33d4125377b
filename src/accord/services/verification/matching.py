"""Matching under a grant: each applicant against the source holding, with only the permitted fields.

The holding's blocking index (``accord.linkage.index``) is built from the
columns the grant lets the hub read (``services.holdings.cached``), kept on the
hub while the holding file is unchanged, and rebuilt once after a new load.
There is one index per set of granted columns: checks that give different
details (with or without a middle name, say) are granted different columns, and
each set is indexed once. An
applicant is reduced to the permitted fields before anything is looked up, so
no withheld field is used to find or compare records. The deterministic cascade
grades each applicant; one it does not call a match goes on to the agreement's
probabilistic model, if one is trained (``model``).

What matching finds stays here: the grade, the agreeing field names, and the
subject key of the one person matched (for the audit log).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pyarrow as pa

from accord.linkage.deterministic import MATCH, verify
from accord.linkage.index import BLOCKING_KEYS, NAME_KEY, BlockingIndex
from accord.linkage.standardise import standardise_table
from accord.runtime import Hub
from accord.services import holdings
from accord.services.access import Grant
from accord.services.verification.answer import Matched
from accord.services.verification.intake import Application
from accord.services.verification.model import models, second_stage
from accord.services.verification.target import COMPARED_FIELDS, Target

# The probabilistic stage also looks at records with the same given name (canonical) and surname: a person
# whose date of birth was mistyped and who has moved shares no key with the cascade's. A name held by more
# records than this finds too many to score in a check's time, and finds candidates only through the others.
MAX_NAME_BLOCK = 500
SECOND_STAGE_KEYS = BLOCKING_KEYS + (NAME_KEY,)
CARRIED = (holdings.SUBJECT,)


def requested_fields(target: Target, applications: Sequence[Application]) -> tuple[str, ...]:
    """The source fields a check asks for: those the applicants gave that the dataset holds, and its NINO.

    The NINO is asked for even when no applicant gave one: it tells two people with
    the same name and date of birth apart (an ambiguous check is only "partial").
    It is asked for only when the agreement names it, so an agreement that refuses
    requests for fields it does not name never refuses a check because of it.
    """
    given = {name for application in applications for name in application.applicant}
    if target.field_map.get("nino") in target.disclosed:
        given.add("nino")
    return tuple(dict.fromkeys(target.field_map.get(name, name) for name in COMPARED_FIELDS if name in given))


def _build(field_map: Mapping[str, str]):  # noqa: ANN202 - a builder for holdings.cached
    def build(raw: pa.Table, dataset_id: str) -> BlockingIndex:
        mapping = {std: column for std, column in field_map.items() if column in raw.column_names}
        has_row_key = holdings.ROW_KEY in raw.column_names
        standard = standardise_table(raw, mapping, id_column=holdings.ROW_KEY if has_row_key else None,
                                     source=f"holding {dataset_id}", date_tolerance=1.0).table
        if holdings.SUBJECT in raw.column_names:
            standard = standard.append_column(holdings.SUBJECT, raw.column(holdings.SUBJECT))
        return BlockingIndex(standard, BLOCKING_KEYS, max_name_block=MAX_NAME_BLOCK)
    return build


def _index_name(mapping: Mapping[str, str]) -> str:
    return "verification:" + ",".join(f"{std}={column}" for std, column in sorted(mapping.items()))


def index_for(grant: Grant, target: Target) -> BlockingIndex:
    """The holding's index over the granted columns (NotFound when the body has loaded no records)."""
    granted = [column for std, column in target.field_map.items() if column in grant.readable]
    mapping = {std: column for std, column in target.field_map.items() if column in granted}
    return holdings.cached(grant, [*granted, holdings.ROW_KEY, holdings.SUBJECT], _build(mapping),
                           name=_index_name(mapping))


def index_ready(hub: Hub, target: Target, fields: Sequence[str]) -> bool:
    """Whether matching a grant of ``fields`` under ``target`` is quick: its index is built, and the
    agreement's model (if any) compiled, so matching reads no file and no database."""
    mapping = {std: column for std, column in target.field_map.items()
               if column in fields and column in target.disclosed}
    return bool(target.dataset_id) and holdings.is_cached(hub, target.dataset_id, _index_name(mapping)) \
        and models(hub).ready(hub, target.agreement_id)


def match(hub: Hub, grant: Grant, target: Target, applications: Sequence[Application]) -> list[Matched]:
    """Grade every application against the holding, using only the fields the grant permits."""
    index = index_for(grant, target)
    scorer = models(hub).scorer(hub, target.agreement_id, index)
    by_column = {column: std for std, column in target.field_map.items()}
    permitted = [by_column[f] for f in grant.readable if f in by_column]
    found = []
    for application in applications:
        applicant = {k: v for k, v in application.applicant.items() if k in permitted}
        candidates = index.candidates(applicant, permitted, carried=CARRIED)
        verdict = verify(applicant, candidates)
        if verdict.grade != MATCH and scorer is not None:
            candidates = index.candidates(applicant, permitted, SECOND_STAGE_KEYS, carried=CARRIED)
            verdict = second_stage(verdict, applicant, candidates, scorer)
        subject = _subject(candidates, verdict.candidate_id) if verdict.grade == MATCH else None
        found.append(Matched(application.reference, verdict.grade, verdict.agreed, subject))
    return found


def _subject(candidates: Sequence[Mapping[str, Any]], candidate_id: Any) -> str | None:
    """The subject key of the record that matched: the person as the hub resolved them."""
    if candidate_id is None:
        return None
    return next((c.get(holdings.SUBJECT) for c in candidates if c.get("id") == candidate_id), None)
