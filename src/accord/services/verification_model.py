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

import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from accord.errors import InvalidInput, NotFound
from accord.linkage.deterministic import AMBIGUOUS_RULE, MATCH, NO_MATCH, PARTIAL, Verification, compare
from accord.linkage.pairwise import PairScorer
from accord.linkage.prepare import prepare_file, prepare_table
from accord.linkage.probabilistic import TrainingOptions, common_fields, prior_for, train
from accord.runtime import Hub
from accord.services.holdings import ROW_KEY, holding_path
from accord.services.linkage_models import StoredModel, check_agreement_in_force, latest_model, store_model

MATCH_PROBABILITY = 0.999
PARTIAL_PROBABILITY = 0.5
PROBABILISTIC_RULE = "probabilistic"
MODEL_TTL_SECONDS = 2.0
TRAINED_BY = "verification"


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
    """The agreement's latest model, compiled for one holding, re-read at most every ``ttl`` seconds.

    The scorer depends on the model version and on the holding (its size sets
    the prior, its given names the term frequencies), so it is rebuilt when
    either changes.
    """

    def __init__(self, ttl: float = MODEL_TTL_SECONDS) -> None:
        self.ttl = ttl
        self._lock = threading.Lock()
        self._latest: dict[tuple, tuple[float, StoredModel | None]] = {}
        self._scorers: dict[tuple, PairScorer] = {}

    def scorer(self, hub: Hub, agreement_id: str, holding: Any) -> PairScorer | None:
        """``holding`` is the index checks match against (``verification.HoldingIndex``)."""
        stored = self._stored(hub, agreement_id)
        if stored is None:
            return None
        key = (id(hub), agreement_id, stored.version, id(holding))
        scorer = self._scorers.get(key)
        if scorer is None:
            with self._lock:
                scorer = self._scorers.get(key)
                if scorer is None:
                    scorer = PairScorer(stored.model, prior=prior_for(stored.model, 1, holding.rows),
                                        term_frequencies={"first_name": holding.term_frequencies("first_name")})
                    stale = [k for k in self._scorers if k[:2] == key[:2]]
                    for old in stale:
                        del self._scorers[old]
                    self._scorers[key] = scorer
        return scorer

    def _stored(self, hub: Hub, agreement_id: str) -> StoredModel | None:
        key = (id(hub), agreement_id)
        now = time.monotonic()
        hit = self._latest.get(key)
        if hit is not None and now - hit[0] < self.ttl:
            return hit[1]
        try:
            stored = latest_model(hub, agreement_id)
        except NotFound:
            stored = None
        if stored is not None:
            try:
                PairScorer(stored.model)  # a model this version cannot read is as good as none
            except ValueError:
                stored = None
        if len(self._latest) > 1000:
            self._latest.clear()
        self._latest[key] = (now, stored)
        return stored

    def clear(self) -> None:
        with self._lock:
            self._latest.clear()
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
