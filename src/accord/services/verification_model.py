"""The probabilistic stage of a verification check: a model per agreement, trained on past applications.

The deterministic cascade settles most checks. A check it does not call a
match goes on to the agreement's probabilistic model, if one has been trained
(``train``): Splink's Fellegi-Sunter model, with its m and u learnt from a
file of past applications linked against the source holding. It scores the
applicant against the candidates (``accord.linkage.pairwise``), and it can
raise the grade:

* to ``match`` when one person's record reaches ``MATCH_PROBABILITY``
  (0.999) and no record of a different person does;
* from ``no match`` to ``partial`` when the best record reaches
  ``PARTIAL_PROBABILITY`` (0.5).

It never lowers a grade the cascade gave, and a check the cascade found
ambiguous (two people fit) stays partial. It compares only the fields that the
decision permits, and a field that is withheld counts as missing (weight 0).
The answer is the same grade and list of agreeing fields as before.

Training reads the source holding only inside the hub, through the same index
the checks use, and keeps only field names and probabilities. The model is stored as the
agreement's next version (``accord.services.linkage_models``). Checks pick it up
within ``MODEL_TTL_SECONDS``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from sqlalchemy import func, select

from accord.errors import InvalidInput
from accord.linkage.deterministic import AMBIGUOUS_RULE, MATCH, NO_MATCH, PARTIAL, Verification, compare
from accord.linkage.pairwise import PairScorer
from accord.linkage.prepare import read_input
from accord.linkage.probabilistic import LinkageModel, TrainingOptions, common_fields, prior_for, train
from accord.linkage.standardise import standardise_table
from accord.runtime import Hub
from accord.services.linkage_models import StoredModel, store_model
from accord.storage.tables.linkage import LinkageModelRecord

MATCH_PROBABILITY = 0.999
PARTIAL_PROBABILITY = 0.5
PROBABILISTIC_RULE = "probabilistic"
MODEL_TTL_SECONDS = 2.0
TRAINED_BY = "verification"
log = logging.getLogger(__name__)


# --------------------------------------------------------------------------- training


def train_model(hub: Hub, *, agreement_id: str, holding: pa.Table, compared: Sequence[str], applications: Path,
                mapping: Mapping[str, str] | None = None, options: TrainingOptions | None = None) -> StoredModel:
    """Train the agreement's model on a file of past applications against the source holding, and store it.

    ``holding`` is the holding's standardised table, as checks match against it
    (``verification.HoldingIndex.table``); ``compared`` the standard fields a check
    compares. The applications (CSV or Parquet, ``mapping`` for their columns) are
    standardised as a check standardises an applicant, so the model learns from the
    forms it will score; a value that cannot be read counts as missing. The caller
    has checked that the agreement is in force.
    """
    source = f"applications {applications.name}"
    apps = standardise_table(read_input(applications, source), dict(mapping or {}), id_column=None, source=source,
                             date_tolerance=1.0).table
    fields = [name for name in common_fields(apps, holding) if name in compared]
    if not fields:
        raise InvalidInput(f"{source}: no column the check compares ({', '.join(compared)}) has values both "
                           "here and in the source body's records")
    model = train(apps, holding, fields=fields, options=options)
    return store_model(hub, agreement_id, model, trained_by=TRAINED_BY)


# --------------------------------------------------------------------------- models in use


def term_frequencies(table: pa.Table, column: str) -> dict[Any, float]:
    """Each value's share of the non-missing values of a standardised column."""
    if column not in table.column_names:
        return {}
    counts = pc.value_counts(table.column(column).combine_chunks().drop_null()).to_pylist()
    total = sum(item["counts"] for item in counts)
    return {item["values"]: item["counts"] / total for item in counts} if total else {}


class ModelCache:
    """The agreement's latest model, compiled for one holding.

    Every ``ttl`` seconds a check asks only for the agreement's highest model
    version. A version is compiled once for each holding index and kept on it
    (``holding.scorers``), because the scorer depends on the holding too: its size
    sets the prior and its given names the term frequencies. A new load builds a
    new index, and so a new scorer.
    """

    def __init__(self, ttl: float = MODEL_TTL_SECONDS) -> None:
        self.ttl = ttl
        self._lock = threading.Lock()
        self._versions: dict[tuple, tuple[float, int | None]] = {}

    def scorer(self, hub: Hub, agreement_id: str, holding: Any) -> PairScorer | None:
        """``holding`` is the index checks match against (``verification.HoldingIndex``)."""
        version = self._version(hub, agreement_id)
        if version is None:
            return None
        key = (agreement_id, version)
        if key not in holding.scorers:
            with self._lock:
                if key not in holding.scorers:
                    holding.scorers[key] = self._compile(hub, agreement_id, version, holding)
        return holding.scorers[key]

    def _version(self, hub: Hub, agreement_id: str) -> int | None:
        key = (id(hub), agreement_id)
        now = time.monotonic()
        hit = self._versions.get(key)
        if hit is not None and now - hit[0] < self.ttl:
            return hit[1]
        with hub.transaction() as session:
            version = session.scalar(select(func.max(LinkageModelRecord.version))
                                     .where(LinkageModelRecord.agreement_id == agreement_id))
        if len(self._versions) > 1000:
            self._versions.clear()
        self._versions[key] = (now, version)
        return version

    @staticmethod
    def _compile(hub: Hub, agreement_id: str, version: int, holding: Any) -> PairScorer | None:
        """The model ready to score against this holding; None (and a warning) if this Accord cannot read it."""
        with hub.transaction() as session:
            text = session.scalar(select(LinkageModelRecord.model).where(
                LinkageModelRecord.agreement_id == agreement_id, LinkageModelRecord.version == version))
        if text is None:
            return None
        try:
            model = LinkageModel.from_json(text, f"agreement {agreement_id}'s model v{version}")
            return PairScorer(model, prior=prior_for(model, 1, holding.rows),
                              term_frequencies={"first_name": holding.term_frequencies("first_name")})
        except (InvalidInput, ValueError) as exc:
            log.warning("verification under %s goes without its model v%s: %s", agreement_id, version,
                        getattr(exc, "detail", exc))
            return None

    def clear(self) -> None:
        with self._lock:
            self._versions.clear()


MODELS = ModelCache()


# --------------------------------------------------------------------------- the second stage


@dataclass(frozen=True)
class _Scored:
    probability: float
    candidate: Mapping[str, Any]


def second_stage(verdict: Verification, applicant: Mapping[str, Any], candidates: Sequence[Mapping[str, Any]],
                 scorer: PairScorer) -> Verification:
    """The cascade's verdict, raised by the model where the model is sure enough (see the module docstring)."""
    if verdict.grade == MATCH or verdict.rule == AMBIGUOUS_RULE or not candidates:
        return verdict  # an ambiguous check stays partial: the cascade found two people who both fit
    left = scorer.row(applicant)
    scored = sorted((_Scored(scorer.score(left, scorer.row(c)).match_probability, c) for c in candidates),
                    key=lambda s: -s.probability)
    best = scored[0]
    if best.probability >= MATCH_PROBABILITY and _one_person([s for s in scored if s.probability >= MATCH_PROBABILITY]):
        grade = MATCH
    elif verdict.grade == NO_MATCH and best.probability >= PARTIAL_PROBABILITY:
        grade = PARTIAL
    else:
        return verdict
    fields = compare(applicant, best.candidate)
    return Verification(grade, PROBABILISTIC_RULE, fields.agreed, dict(fields.levels), best.candidate.get("id"))


def _one_person(scored: Sequence[_Scored]) -> bool:
    """One record, or records that all carry the same NINO (one person held twice)."""
    if len(scored) == 1:
        return True
    ninos = [s.candidate.get("nino") for s in scored]
    return all(ninos) and len(set(ninos)) == 1
