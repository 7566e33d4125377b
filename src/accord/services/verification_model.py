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

Training reads the source holding only inside the hub, as the matching does,
and keeps only field names and probabilities. The model is stored as the
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
from accord.linkage.prepare import prepare_file, prepare_table
from accord.linkage.probabilistic import LinkageModel, TrainingOptions, common_fields, prior_for, train
from accord.runtime import Hub
from accord.services.holdings import ROW_KEY, holding_path
from accord.services.linkage_models import StoredModel, check_agreement_in_force, store_model
from accord.storage.tables.linkage import LinkageModelRecord

MATCH_PROBABILITY = 0.999
PARTIAL_PROBABILITY = 0.5
PROBABILISTIC_RULE = "probabilistic"
MODEL_TTL_SECONDS = 2.0
TRAINED_BY = "verification"
log = logging.getLogger(__name__)


# --------------------------------------------------------------------------- training


def train_model(hub: Hub, *, agreement_id: str, dataset_id: str, field_map: Mapping[str, str],
                compared: Sequence[str], applications: Path, mapping: Mapping[str, str] | None = None,
                options: TrainingOptions | None = None) -> StoredModel:
    """Train the agreement's model on a file of past applications against the source holding, and store it.

    ``field_map`` is the source dataset's standard field -> column; ``compared``
    the standard fields a check compares. The applications file is read as
    ``accord link`` reads an input (CSV or Parquet, ``mapping`` for its columns).
    """
    check_agreement_in_force(hub, agreement_id)
    path = holding_path(hub, dataset_id)  # NotFound when the source body has loaded nothing
    apps = prepare_file(applications, dict(mapping or {}), source="applications")
    columns = set(pq.read_schema(path).names)
    source_map = {std: column for std, column in field_map.items() if std in compared and column in columns}
    raw = pq.read_table(path, columns=list(dict.fromkeys(source_map.values())) + [ROW_KEY])
    holding = prepare_table(raw, source_map, id_column=ROW_KEY, source=f"holding {dataset_id}")
    fields = [name for name in common_fields(apps.table, holding.table) if name in compared]
    if not fields:
        raise InvalidInput(f"{applications.name}: no column the check compares ({', '.join(compared)}) has values "
                           f"both here and in {dataset_id}'s records")
    model = train(apps.table, holding.table, fields=fields, options=options)
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
    version; the model is read and compiled only when that changes. The scorer
    also depends on the holding (its size sets the prior, its given names the
    term frequencies), so it is rebuilt when the holding's index is.
    """

    def __init__(self, ttl: float = MODEL_TTL_SECONDS) -> None:
        self.ttl = ttl
        self._lock = threading.Lock()
        self._versions: dict[tuple, tuple[float, int | None]] = {}
        self._models: dict[tuple, LinkageModel | None] = {}  # None: a model this version cannot read
        self._scorers: dict[tuple, PairScorer] = {}

    def scorer(self, hub: Hub, agreement_id: str, holding: Any) -> PairScorer | None:
        """``holding`` is the index checks match against (``verification.HoldingIndex``)."""
        version = self._version(hub, agreement_id)
        if version is None:
            return None
        key = (id(hub), agreement_id, version, id(holding))
        scorer = self._scorers.get(key)
        if scorer is not None:
            return scorer
        with self._lock:
            scorer = self._scorers.get(key)
            if scorer is not None:
                return scorer
            model = self._model(hub, agreement_id, version)
            if model is None:
                return None
            scorer = PairScorer(model, prior=prior_for(model, 1, holding.rows),
                                term_frequencies={"first_name": holding.term_frequencies("first_name")})
            for old in [k for k in self._scorers if k[:2] == key[:2]]:
                del self._scorers[old]
            self._scorers[key] = scorer
            return scorer

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

    def _model(self, hub: Hub, agreement_id: str, version: int) -> LinkageModel | None:
        key = (id(hub), agreement_id, version)
        if key not in self._models:
            model = None
            with hub.transaction() as session:
                record = session.scalar(select(LinkageModelRecord).where(
                    LinkageModelRecord.agreement_id == agreement_id, LinkageModelRecord.version == version))
                text = record.model if record is not None else None
            if text is not None:
                try:
                    model = LinkageModel.from_json(text, f"agreement {agreement_id}'s model v{version}")
                    PairScorer(model)  # one this version cannot compile is as good as none
                except (InvalidInput, ValueError) as exc:
                    log.warning("verification under %s goes without its model v%s: %s", agreement_id, version,
                                getattr(exc, "detail", exc))
                    model = None
            self._models[key] = model
        return self._models[key]

    def clear(self) -> None:
        with self._lock:
            self._versions.clear()
            self._models.clear()
            self._scorers.clear()


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
    agreed = compare(applicant, best.candidate).agreed
    levels = dict(compare(applicant, best.candidate).levels)
    if best.probability >= MATCH_PROBABILITY:
        sure = [s for s in scored if s.probability >= MATCH_PROBABILITY]
        if _one_person(sure):
            return Verification(MATCH, PROBABILISTIC_RULE, agreed, levels, best.candidate.get("id"))
    if verdict.grade == NO_MATCH and best.probability >= PARTIAL_PROBABILITY:
        return Verification(PARTIAL, PROBABILISTIC_RULE, agreed, levels, best.candidate.get("id"))
    return verdict


def _one_person(scored: Sequence[_Scored]) -> bool:
    """One record, or records that all carry the same NINO (one person held twice)."""
    if len(scored) == 1:
        return True
    ninos = [s.candidate.get("nino") for s in scored]
    return all(ninos) and len(set(ninos)) == 1
