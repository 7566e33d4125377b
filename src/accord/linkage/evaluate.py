"""How good is a linkage? Linked pairs scored against the ground truth of who is who.

Inputs: MATCHES, the pairs a linkage produced (``left_id, right_id,
match_probability`` and optionally ``match_weight``), and for each side a truth
file mapping record id to person id (``accord synth`` writes them as
``OUT/truth/<dataset>.parquet``: ``record_id, person_id``). The id columns are
found by name: ``record_id`` or ``id``, and ``person_id`` or ``cluster``.

Definitions (a "pair" is one left record and one right record):

- true pairs: every pair whose two records belong to the same person, from the
  truth files (a person with two left records and one right record makes two).
  Records with no person id (e.g. fictitious applicants) are in no true pair.
- predicted pairs: pairs in MATCHES with ``match_probability >= threshold``
  (a pair listed twice counts once, at its highest probability).
- precision = true predicted / predicted; recall = true predicted / true pairs;
  F1 their harmonic mean.
- blocking recall: the share of true pairs that appear in MATCHES at any
  probability, i.e. the recall at threshold 0, the most any threshold could
  reach with these candidates. It measures the candidate generation (blocking)
  only when MATCHES holds every compared pair; a linkage that wrote only pairs
  above its own threshold makes it an upper bound on recall instead.
- precision and recall by threshold: the same at each distinct probability in
  MATCHES (``Evaluation.curve``).

A record id in MATCHES that is not in its truth file is an error (the wrong
truth file, most likely), not a silent false positive.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from accord.errors import InvalidInput

DEFAULT_THRESHOLD = 0.5  # as `accord link`'s: evaluate what it wrote
ID_COLUMNS = ("record_id", "id")
PERSON_COLUMNS = ("person_id", "cluster")
_TEXT_COLUMNS = ("left_id", "right_id", "left_source", "right_source", "source", "person_key", *ID_COLUMNS,
                 *PERSON_COLUMNS)
SUMMARY_THRESHOLDS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99, 0.999)


# --------------------------------------------------------------------------- files


def read_tabular(path: Path, what: str = "file") -> pa.Table:
    """A CSV or Parquet file (by extension) as a table; any problem is an InvalidInput naming the file.

    Id-like columns (left_id, right_id, record_id, id, person_id, cluster, sources, person_key) are
    read from CSV as text, so '007' stays '007'.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".parquet", ".pq"):
        raise InvalidInput(f"{path}: the {what} should be a .csv or .parquet file")
    if not path.exists():
        raise InvalidInput(f"{path}: no such {what}")
    if path.is_dir():
        raise InvalidInput(f"{path}: is a directory, not a {what}")
    try:
        if path.stat().st_size == 0:
            raise InvalidInput(f"{path}: the {what} is empty")
        if suffix == ".csv":
            options = pacsv.ConvertOptions(column_types={c: pa.string() for c in _TEXT_COLUMNS})
            table = pacsv.read_csv(path, convert_options=options)
        else:
            table = pq.read_table(path)
    except InvalidInput:
        raise
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError) as exc:
        reason = str(exc).splitlines()[0]
        if "UTF8" in reason or "utf8" in reason.lower():
            raise InvalidInput(f"{path}: not UTF-8 text ({reason})") from None
        kind = "CSV" if suffix == ".csv" else "Parquet"
        raise InvalidInput(f"{path}: cannot be read as {kind} ({reason})") from None
    except OSError as exc:
        raise InvalidInput(f"{path}: cannot be read ({exc.strerror or exc})") from None
    if table.num_rows == 0:
        raise InvalidInput(f"{path}: the {what} has no rows")
    return table


def _pick(table: pa.Table, choices: tuple[str, ...], path: Path | str, what: str) -> str:
    for name in choices:
        if name in table.column_names:
            return name
    raise InvalidInput(f"{path}: no {what} column (expected one of {', '.join(choices)}; "
                       f"found {', '.join(table.column_names)})")


def _as_text(values: pa.ChunkedArray) -> pa.Array:
    values = values.combine_chunks()
    return values if pa.types.is_string(values.type) else values.cast(pa.string())


@dataclass
class Truth:
    """Record id -> person id for one side (persons as text; null when the record is no one's)."""

    record_ids: pa.Array
    person_ids: pa.Array
    source: str

    @classmethod
    def from_table(cls, table: pa.Table, source: str = "truth") -> Truth:
        id_column = _pick(table, ID_COLUMNS, source, "record id")
        person_column = _pick(table, PERSON_COLUMNS, source, "person id")
        ids, persons = _as_text(table.column(id_column)), _as_text(table.column(person_column))
        if ids.null_count:
            row = int(np.flatnonzero(pc.is_null(ids).to_numpy(zero_copy_only=False))[0])
            raise InvalidInput(f"{source}: row {row + 1}, column {id_column} is empty")
        if len(pc.unique(ids)) != len(ids):
            counts = pc.value_counts(ids)
            twice = counts.filter(pc.greater(counts.field("counts"), 1))[0]["values"].as_py()
            raise InvalidInput(f"{source}: record id '{twice}' appears more than once")
        return cls(ids, persons, source)


def read_truth(path: Path, side: str = "left") -> Truth:
    return Truth.from_table(read_tabular(path, f"truth-{side} file"), str(path))


# --------------------------------------------------------------------------- evaluation


@dataclass
class Evaluation:
    """Precision, recall, F1 and blocking recall of MATCHES at a threshold, and what the report draws."""

    threshold: float
    true_pairs: int  # pairs of records of the same person, by the truth files
    candidate_pairs: int  # distinct pairs in MATCHES
    candidates_true: int  # of which true
    predicted: int  # candidate pairs at or above the threshold
    true_positives: int
    precision: float
    recall: float
    f1: float
    blocking_recall: float
    curve: pa.Table  # threshold, predicted, true_positives, precision, recall, f1: one row per distinct probability
    score_name: str  # the score the histogram shows: match_weight when MATCHES has it, else match_probability
    scores_true: np.ndarray
    scores_false: np.ndarray

    def summary(self) -> dict[str, float | int]:
        return {
            "threshold": self.threshold, "precision": self.precision, "recall": self.recall, "f1": self.f1,
            "blocking_recall": self.blocking_recall, "true_pairs": self.true_pairs,
            "candidate_pairs": self.candidate_pairs, "predicted_pairs": self.predicted,
            "true_positives": self.true_positives, "false_positives": self.predicted - self.true_positives,
            "false_negatives": self.true_pairs - self.true_positives,
        }

    def at(self, threshold: float) -> dict[str, float | int]:
        """Precision, recall and F1 were the threshold ``threshold`` (from the curve)."""
        thresholds = self.curve.column("threshold").to_numpy()
        i = int(np.searchsorted(-thresholds, -threshold, side="right")) - 1  # last distinct value >= threshold
        if i < 0:
            return {"threshold": threshold, "predicted": 0, "true_positives": 0, "precision": float("nan"),
                    "recall": 0.0, "f1": 0.0}
        row = self.curve.slice(i, 1).to_pylist()[0]
        return {**row, "threshold": threshold}


def _ratio(a: int | np.ndarray, b: int | np.ndarray) -> float | np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.divide(np.asarray(a, dtype=float), np.asarray(b, dtype=float))
    return float(out) if np.ndim(out) == 0 else out


def _f1(precision: float | np.ndarray, recall: float | np.ndarray) -> float | np.ndarray:
    p, r = np.nan_to_num(np.asarray(precision, dtype=float)), np.asarray(recall, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        f = np.where(p + r > 0, 2 * p * r / (p + r), 0.0)
    return float(f) if np.ndim(f) == 0 else f


def _persons_of(ids: pa.Array, truth: Truth, column: str, source: str) -> np.ndarray:
    """Row i of MATCHES -> position of its record in the truth file; unknown ids are an error."""
    where = pc.index_in(ids, value_set=truth.record_ids)
    if where.null_count:
        row = int(np.flatnonzero(pc.is_null(where).to_numpy(zero_copy_only=False))[0])
        missing = int(where.null_count)
        raise InvalidInput(f"{source}: row {row + 1}, {column} '{ids[row].as_py()}' is not in {truth.source} "
                           f"({missing:,} of {len(ids):,} ids are not; is it the right truth file?)")
    return where.to_numpy(zero_copy_only=False).astype(np.int64)


def evaluate(matches: pa.Table, truth_left: Truth, truth_right: Truth, threshold: float = DEFAULT_THRESHOLD,
             source: str = "MATCHES") -> Evaluation:
    """Score linked pairs against the truth (definitions in the module docstring)."""
    if not 0 <= threshold <= 1:
        raise InvalidInput(f"threshold {threshold} is not between 0 and 1")
    missing = [c for c in ("left_id", "right_id", "match_probability") if c not in matches.column_names]
    if missing:
        raise InvalidInput(f"{source}: no column {', '.join(repr(c) for c in missing)} "
                           f"(found {', '.join(matches.column_names)})")
    if matches.num_rows == 0:
        raise InvalidInput(f"{source}: has no pairs")
    probability = matches.column("match_probability")
    if not (pa.types.is_floating(probability.type) or pa.types.is_integer(probability.type)):
        raise InvalidInput(f"{source}: column match_probability is not numeric")
    p = pc.fill_null(probability.cast(pa.float64()), np.nan).to_numpy(zero_copy_only=False)
    bad = np.flatnonzero(~((p >= 0) & (p <= 1)))
    if len(bad):
        raise InvalidInput(f"{source}: row {bad[0] + 1}, column match_probability is not a number between 0 and 1")
    score_name = "match_weight" if "match_weight" in matches.column_names else "match_probability"
    score = p
    if score_name == "match_weight":
        weight = matches.column("match_weight")
        if not (pa.types.is_floating(weight.type) or pa.types.is_integer(weight.type)):
            raise InvalidInput(f"{source}: column match_weight is not numeric")
        score = pc.fill_null(weight.cast(pa.float64()), np.nan).to_numpy(zero_copy_only=False)
    for column in ("left_id", "right_id"):
        ids = matches.column(column)
        if ids.null_count:
            row = int(np.flatnonzero(pc.is_null(ids).to_numpy(zero_copy_only=False))[0])
            raise InvalidInput(f"{source}: row {row + 1}, column {column} is empty")
    left = _persons_of(_as_text(matches.column("left_id")), truth_left, "left_id", source)
    right = _persons_of(_as_text(matches.column("right_id")), truth_right, "right_id", source)

    # persons of both sides coded together (0: no person), so equal codes are the same person
    both = pa.concat_arrays([truth_left.person_ids, truth_right.person_ids])
    encoded = pc.dictionary_encode(both)
    codes = pc.fill_null(pc.add(encoded.indices.cast(pa.int64()), 1), 0).to_numpy()
    code_left, code_right = codes[:len(truth_left.person_ids)], codes[len(truth_left.person_ids):]
    persons = len(encoded.dictionary) + 1
    per_person = np.bincount(code_left, minlength=persons) * np.bincount(code_right, minlength=persons)
    true_pairs = int(per_person[1:].sum())

    # distinct candidate pairs, each at its highest probability
    pair_key = left * np.int64(len(truth_right.record_ids)) + right
    order = np.lexsort((-p, pair_key))
    first = np.r_[True, pair_key[order][1:] != pair_key[order][:-1]]
    keep = order[first]
    pl, pr, pp, ps = code_left[left[keep]], code_right[right[keep]], p[keep], score[keep]
    is_true = (pl == pr) & (pl > 0)

    # by threshold: sort by probability, descending; one row per distinct value
    by_p = np.argsort(-pp, kind="stable")
    sorted_p, true_sorted = pp[by_p], is_true[by_p]
    cumulative = np.cumsum(true_sorted)
    last = np.r_[sorted_p[1:] != sorted_p[:-1], True] if len(sorted_p) else np.zeros(0, bool)
    predicted_at = np.flatnonzero(last) + 1
    tp_at = cumulative[last]
    precision_at = _ratio(tp_at, predicted_at)
    recall_at = _ratio(tp_at, true_pairs) if true_pairs else np.zeros(len(tp_at))
    curve = pa.table({
        "threshold": sorted_p[last], "predicted": predicted_at.astype(np.int64), "true_positives": tp_at.astype(np.int64),
        "precision": precision_at, "recall": recall_at, "f1": _f1(precision_at, recall_at),
    })

    predicted_mask = pp >= threshold
    predicted = int(predicted_mask.sum())
    true_positives = int((predicted_mask & is_true).sum())
    precision = _ratio(true_positives, predicted) if predicted else float("nan")
    recall = _ratio(true_positives, true_pairs) if true_pairs else float("nan")
    candidates_true = int(is_true.sum())
    return Evaluation(
        threshold=threshold, true_pairs=true_pairs, candidate_pairs=len(keep), candidates_true=candidates_true,
        predicted=predicted, true_positives=true_positives, precision=precision, recall=recall,
        f1=_f1(precision, recall) if predicted and true_pairs else 0.0,
        blocking_recall=_ratio(candidates_true, true_pairs) if true_pairs else float("nan"),
        curve=curve, score_name=score_name, scores_true=ps[is_true], scores_false=ps[~is_true],
    )


def evaluate_files(matches: Path, truth_left: Path, truth_right: Path,
                   threshold: float = DEFAULT_THRESHOLD) -> Evaluation:
    """``evaluate`` on files: MATCHES and the two truth files, CSV or Parquet."""
    table = read_tabular(matches, "matches file")
    left, right = read_truth(truth_left, "left"), read_truth(truth_right, "right")
    return evaluate(table, left, right, threshold, source=str(matches))
