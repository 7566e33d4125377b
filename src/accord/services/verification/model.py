"""The probabilistic stage of a check: a model per agreement, trained on past applications.

The deterministic cascade settles most checks. A check it does not call a
match goes on to the agreement's probabilistic model, if one has been trained:
Splink's Fellegi-Sunter model, with its m and u learnt from a file of past
applications linked against the source holding. It scores the applicant
against the candidates (``accord.linkage.pairwise``), and it can raise the grade:

* to ``match`` when one person's record reaches ``MATCH_PROBABILITY``
  (0.999) and no record of a different person does;
* from ``no match`` to ``partial`` when the best record reaches
  ``PARTIAL_PROBABILITY`` (0.5).

It never lowers a grade the cascade gave, and a check the cascade found
ambiguous (two people fit) stays partial. It compares only the fields the
decision permits; a field that is withheld counts as missing (weight 0).

Models are stored as the agreement's versions (``services.linkage_models``);
checks ask for the highest version every ``MODEL_TTL_SECONDS`` and compile
each version once per holding index, because the scorer depends on the
holding too: its size sets the prior and its given names the term frequencies.
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

from accord.errors import InvalidInput
from accord.linkage.deterministic import AMBIGUOUS_RULE, MATCH, NO_MATCH, PARTIAL, Verification, compare
from accord.linkage.index import BlockingIndex
from accord.linkage.pairwise import PairScorer
from accord.linkage.prepare import read_input
from accord.linkage.probabilistic import LinkageModel, TrainingOptions, common_fields, prior_for, train
from accord.linkage.standardise import standardise_table
from accord.runtime import Hub
from accord.services.linkage_models import StoredModel, latest_version, model_text, store_model
from accord.services.subjects import SUBJECT

MATCH_PROBABILITY = 0.999
PARTIAL_PROBABILITY = 0.5
PROBABILISTIC_RULE = "probabilistic"
MODEL_TTL_SECONDS = 2.0
TRAINED_BY = "verification"
log = logging.getLogger(__name__)


def past_applications(path: Path, mapping: Mapping[str, str] | None = None) -> pa.Table:
    """A file of past applications standardised as a check standardises an applicant, so the model learns
    from the forms it will score; a value that cannot be read counts as missing."""
    source = f"applications {path.name}"
    return standardise_table(read_input(path, source), dict(mapping or {}), id_column=None, source=source,
                             date_tolerance=1.0).table


def train_on(hub: Hub, *, agreement_id: str, holding: pa.Table, compared: Sequence[str], applications: pa.Table,
             source: str, options: TrainingOptions | None = None) -> StoredModel:
    """Train the agreement's model on past applications against the holding's standardised table, and store it."""
    fields = [name for name in common_fields(applications, holding) if name in compared]
    if not fields:
        raise InvalidInput(f"{source}: no column the check compares ({', '.join(compared)}) has values both "
                           "here and in the source body's records")
    model = train(applications, holding, fields=fields, options=options)
    return store_model(hub, agreement_id, model, trained_by=TRAINED_BY)


class Models:
    """The agreement's latest model version, looked up every ``ttl`` seconds; one per hub."""

    def __init__(self, ttl: float = MODEL_TTL_SECONDS) -> None:
        self.ttl = ttl
        self._lock = threading.Lock()
        self._versions: dict[str, tuple[float, int | None]] = {}
        self._compiled: set[tuple[str, int]] = set()

    def ready(self, hub: Hub, agreement_id: str) -> bool:
        """Whether the agreement's latest model (if it has one) is compiled, so scoring reads nothing.

        Looks the version up if its lookup is stale, in the caller's thread: a check that then
        asks and matches in the write transaction's read phase finds it fresh there.
        """
        version = self._version(hub, agreement_id)
        return version is None or (agreement_id, version) in self._compiled

    def scorer(self, hub: Hub, agreement_id: str, index: BlockingIndex) -> PairScorer | None:
        version = self._version(hub, agreement_id)
        if version is None:
            return None
        key = (agreement_id, version)
        if key not in index.scorers:
            with self._lock:
                if key not in index.scorers:
                    index.scorers[key] = _compile(hub, agreement_id, version, index)
                    self._compiled.add(key)
        return index.scorers[key]

    def _version(self, hub: Hub, agreement_id: str) -> int | None:
        now = time.monotonic()
        hit = self._versions.get(agreement_id)
        if hit is not None and now - hit[0] < self.ttl:
            return hit[1]
        version = latest_version(hub, agreement_id)
        self._versions[agreement_id] = (now, version)
        return version


def models(hub: Hub) -> Models:
    return hub.cache("verification.models", Models)


def _compile(hub: Hub, agreement_id: str, version: int, index: BlockingIndex) -> PairScorer | None:
    """The model ready to score against this holding; None (and a warning) if this Accord cannot read it."""
    text = model_text(hub, agreement_id, version)
    if text is None:
        return None
    try:
        model = LinkageModel.from_json(text, f"agreement {agreement_id}'s model v{version}")
        return PairScorer(model, prior=prior_for(model, 1, index.rows),
                          term_frequencies={"first_name": index.term_frequencies("first_name")})
    except (InvalidInput, ValueError) as exc:
        log.warning("verification under %s goes without its model v%s: %s", agreement_id, version,
                    getattr(exc, "detail", exc))
        return None


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
    """One record, or records that all name the same person (one person held twice)."""
    if len(scored) == 1:
        return True
    people = [s.candidate.get(SUBJECT) for s in scored]
    return all(people) and len(set(people)) == 1
