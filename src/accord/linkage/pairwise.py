"""Score one record against a few candidates with a trained model, in Python.

Splink scores whole tables in SQL; its per-record path (``compare_two_records``)
plans a SQL pipeline per call and took about 19 ms to score one applicant
against six records here, where the comparison itself is microseconds. A
verification check must cost well under a millisecond, so this module applies
the same model to one pair at a time: the level of each comparison from the
Python form of its condition (``accord.linkage.comparisons``), then Splink's
arithmetic on it. Why this is not left to Splink: docs/adr/0010-probabilistic-verification.md.

A pair's match weight is the prior's log-odds plus, for each comparison,
log2(m/u) of the level the pair is at (0 at the null level), plus the
term-frequency adjustment where the level has one: log2(u of the exact level)
- log2(the value's frequency). ``match_probability`` is 2^w / (1 + 2^w). Both
are what Splink computes for the same pair, model and frequencies
(``tests/linkage/test_linkage_pairwise.py`` holds every pair of a whole-table
run to that).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from accord.linkage.comparisons import comparisons
from accord.errors import InvalidInput
from accord.linkage.probabilistic import LinkageModel, compile_settings
from accord.linkage.standardise import canonical_first_name

Row = Mapping[str, Any]
_CLAMP = 1e-300  # as Splink clamps m and u before taking logs


@dataclass(frozen=True)
class _ScoredLevel:
    test: Any
    weight: float  # log2(m/u); 0 for the null level
    tf: str | None
    tf_log2_u: float  # log2(u of the exact level of the tf column), used only when ``tf`` is set


@dataclass(frozen=True)
class Score:
    match_weight: float
    match_probability: float
    levels: tuple[int, ...]  # the level of each comparison (0 = null), in the model's order
    parts: tuple[float, ...]  # each comparison's weight (with its term-frequency adjustment), in the same order


def _weight(m: float | None, u: float | None) -> float:
    if m is None or u is None:
        return 0.0  # never so for a compiled model: Splink gives every level a default
    return math.log2(max(m, _CLAMP) / max(u, _CLAMP))


def _splink_levels(model: LinkageModel) -> list[list[tuple[float | None, float | None]]]:
    """Each comparison's non-null levels' (m, u) as Splink predicts with them.

    Read from Splink's own compiled settings, not the model file, because Splink
    fills in what the file leaves out: a level EM never saw among matches has no m
    in the file and Splink's default in prediction.
    """
    from splink import SettingsCreator

    try:
        compiled = SettingsCreator.from_path_or_dict(compile_settings(model, model.fields, "duckdb"))
    except InvalidInput as exc:
        raise ValueError(exc.detail) from None
    out = []
    for comparison in compiled.get_settings("duckdb").comparisons:
        out.append([(level.m_probability, level.u_probability) for level in comparison.comparison_levels
                    if not level.is_null_level])
    return out


class PairScorer:
    """A model ready to score pairs: levels compiled to Python tests with their weights.

    ``term_frequencies`` maps a column (the given name) to each value's share of
    the records; Splink takes them from the inputs it links, a verification from
    the holding. ``prior`` overrides the model's, for inputs of other sizes
    (``probabilistic.prior_for``).
    """

    def __init__(self, model: LinkageModel, *, prior: float | None = None,
                 term_frequencies: Mapping[str, Mapping[Any, float]] | None = None) -> None:
        self.model = model
        p = model.probability_two_random_records_match if prior is None else prior
        self.prior_weight = math.log2(p / (1 - p))
        self.term_frequencies = term_frequencies or {}
        self._comparisons: list[tuple[str, tuple[_ScoredLevel, ...]]] = []
        for comparison, levels in zip(comparisons(model.fields), _splink_levels(model)):
            if len(levels) != len(comparison.levels) - 1:
                raise ValueError(f"the model's comparison '{comparison.name}' does not fit this version of Accord")
            exact_u = {level.tf: u for level, (_m, u) in zip(comparison.levels[1:], levels) if level.tf is not None}
            scored = [_ScoredLevel(comparison.levels[0].test, 0.0, None, 0.0)]
            for level, (m, u) in zip(comparison.levels[1:], levels):
                u_exact = exact_u.get(level.tf) if level.tf else None
                scored.append(_ScoredLevel(level.test, _weight(m, u), level.tf,
                                           math.log2(u_exact) if u_exact else 0.0))
            self._comparisons.append((comparison.name, tuple(scored)))

    @staticmethod
    def row(record: Row) -> dict[str, Any]:
        """A standardised record with the derived columns the comparisons read (the given name's canonical form)."""
        out = dict(record)
        if "first_name_canon" not in out:
            out["first_name_canon"] = canonical_first_name(out.get("first_name"))
        return out

    def score(self, left: Row, right: Row) -> Score:
        """The pair's match weight and probability; both rows as made by ``row``."""
        levels, parts = [], []
        for _name, scored in self._comparisons:
            for index, level in enumerate(scored):
                if level.test(left, right):
                    weight = level.weight + (self._tf_adjustment(level, left, right) if level.tf else 0.0)
                    levels.append(index)
                    parts.append(weight)
                    break
        total = self.prior_weight + sum(parts)
        return Score(total, _probability(total), tuple(levels), tuple(parts))

    def _tf_adjustment(self, level: _ScoredLevel, left: Row, right: Row) -> float:
        frequencies = self.term_frequencies.get(level.tf or "")
        if not frequencies:
            return 0.0
        found = [f for f in (frequencies.get(left.get(level.tf)), frequencies.get(right.get(level.tf)))
                 if f is not None]
        if not found:
            return 0.0
        return level.tf_log2_u - math.log2(max(found))


def _probability(weight: float) -> float:
    if weight > 500:
        return 1.0
    if weight < -500:
        return 0.0
    odds = 2.0 ** weight
    return odds / (1 + odds)
