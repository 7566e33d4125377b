"""Probabilistic record linkage with Splink: the Fellegi-Sunter model, trained by EM, on DuckDB or Spark.

Two bodies' prepared records (``accord.linkage.prepare``) are compared field
by field. Each comparison has levels (exact, a nickname of the same name,
similar by Jaro-Winkler, day and month swapped, same postcode sector, ...);
the model holds, for every level, m (how often true matches are at that
level) and u (how often non-matches are), and a pair's match weight is the
prior log-odds plus log2(m/u) of the level each field is at, adjusted for how
common an exactly matching value is (term frequencies: two Smiths agreeing
says less than two Zebedees). ``match_probability`` follows from the weight.

Training, once per agreement (``train``):

1. the prior (the probability that two records drawn at random match) from
   pairs that agree on strict rules, with their recall assumed;
2. u from random pairs (nearly all non-matches);
3. m by expectation maximisation, in two sessions blocked on different
   fields (date of birth; postcode and given name) so that every comparison is
   estimated in a session that does not block on it. EM runs on a sample of
   the blocked pairs (``em_pairs``); the estimates need a representative
   sample, not all of them, which is most of why training is quick.

Prediction (``predict``) compares only pairs that share a blocking key
(``BLOCKING_RULES``) and keeps those at or above the threshold. It can run in
chunks (``chunks``): both sides are split by a hash of the record id and every
pair of chunks is scored in turn, so memory stays bounded for 10M x 10M
without losing any pair (see docs/adr/0007-probabilistic-linkage-model.md).

The model file (``LinkageModel``) is engine-neutral: it lists the fields and
the trained m and u of each comparison level, and is compiled into Splink
settings for whichever SQL dialect runs it, so a model trained on DuckDB
predicts on Spark and the other way round. It also carries the compiled
Splink settings (DuckDB dialect), so Splink's own tools can read it.
"""

from __future__ import annotations

import copy
import json
import logging
import math
import os
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from accord.errors import InvalidInput
from accord.linkage.comparisons import splink_comparisons
from accord.linkage.engines import ENGINES, open_engine
from accord.linkage.standardise import STANDARD_FIELDS, canonical_first_names

MODEL_FORMAT = "accord-linkage-model"
MODEL_VERSION = 1
DEFAULT_THRESHOLD = 0.5
M_FLOOR = 1e-4  # no comparison level is impossible for a true match (see _floor)
U_FLOOR = 1e-7  # nor certain never to occur between different people
SOURCE_LEFT, SOURCE_RIGHT = "left", "right"

# Prediction blocking rules, each a set of columns that must be equal. A rule is used when every
# standard field behind it is present on both sides. Together they find a true pair unless it
# disagrees on almost everything (e.g. a new surname, a typo in the given name and a move).
BLOCKING_RULES: tuple[tuple[str, ...], ...] = (
    ("nino",),
    ("dob", "first_name_canon"),
    ("dob", "surname"),
    ("dob", "postcode"),
    ("postcode", "first_name_canon"),
    ("postcode", "surname"),
    ("address", "first_name_canon"),
    ("first_name_canon", "surname", "birth_year"),
    ("uprn", "first_name_canon"),
)
FALLBACK_RULES: tuple[tuple[str, ...], ...] = (("first_name_canon", "surname"),)
# Derived columns and the standard field each comes from.
DERIVED = {"first_name_canon": "first_name", "birth_year": "dob"}

Progress = Callable[[str], None]
log = logging.getLogger(__name__)


def _now() -> str:
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat()


# --------------------------------------------------------------------------- the model


@dataclass
class LinkageModel:
    """A trained model: fields compared, prior and every level's m and u. Engine-neutral JSON."""

    fields: list[str]
    probability_two_random_records_match: float
    comparisons: dict[str, list[dict[str, Any]]]  # comparison -> levels: {"label", "m", "u"} (null level omitted)
    trained_at: str = field(default_factory=_now)
    training: dict[str, Any] = field(default_factory=dict)
    splink_settings: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready copy (changing it leaves the model as it was)."""
        return copy.deepcopy({
            "format": MODEL_FORMAT,
            "version": MODEL_VERSION,
            "fields": self.fields,
            "probability_two_random_records_match": self.probability_two_random_records_match,
            "comparisons": self.comparisons,
            "trained_at": self.trained_at,
            "training": self.training,
            "splink_settings": self.splink_settings,
        })

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=False)

    @classmethod
    def from_dict(cls, data: Any, source: str = "model") -> LinkageModel:
        if not isinstance(data, dict) or data.get("format") != MODEL_FORMAT:
            raise InvalidInput(f"{source} is not an Accord linkage model (no \"format\": \"{MODEL_FORMAT}\")")
        if data.get("version") != MODEL_VERSION:
            raise InvalidInput(f"{source} is a version {data.get('version')} model; this Accord reads "
                               f"version {MODEL_VERSION}")
        try:
            fields = [str(f) for f in data["fields"]]
            prior = float(data["probability_two_random_records_match"])
            comparisons = {
                str(name): [{"label": str(level["label"]), "m": level.get("m"), "u": level.get("u")}
                            for level in levels]
                for name, levels in data["comparisons"].items()
            }
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise InvalidInput(f"{source} is not a complete linkage model ({type(exc).__name__}: {exc})") from None
        unknown = [f for f in fields if f not in STANDARD_FIELDS]
        if unknown or not fields:
            raise InvalidInput(f"{source}: unknown or missing fields in the model: {', '.join(unknown) or '(none)'}")
        if not 0 < prior < 1:
            raise InvalidInput(f"{source}: the prior must be between 0 and 1")
        return cls(fields, prior, comparisons, str(data.get("trained_at", "")), dict(data.get("training") or {}),
                   dict(data.get("splink_settings") or {}))

    @classmethod
    def from_json(cls, text: str, source: str = "model") -> LinkageModel:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InvalidInput(f"{source}: invalid JSON at line {exc.lineno}, column {exc.colno}") from None
        return cls.from_dict(data, source)

    def save(self, path: Path) -> None:
        """Write atomically (temporary file, then rename)."""
        path = Path(path)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(self.to_json())
            os.chmod(tmp, 0o644)  # not a secret: field names and probabilities
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    @classmethod
    def load(cls, path: Path) -> LinkageModel:
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise InvalidInput(f"model {path}: cannot be read ({exc})") from None
        return cls.from_json(text, f"model {path.name}")


# --------------------------------------------------------------------------- comparisons (the spec)


def _rule_fields(rule: Sequence[str]) -> set[str]:
    return {DERIVED.get(column, column) for column in rule}


def blocking_rules(fields: Sequence[str]) -> list[tuple[str, ...]]:
    """The prediction blocking rules usable with these fields."""
    have = set(fields)
    rules = [rule for rule in BLOCKING_RULES if _rule_fields(rule) <= have]
    if not any("dob" in _rule_fields(rule) for rule in rules):
        rules += [rule for rule in FALLBACK_RULES if _rule_fields(rule) <= have]
    return rules


def _settings_creator(fields: Sequence[str]) -> Any:
    from splink import SettingsCreator, block_on

    rules = blocking_rules(fields)
    if not rules:
        raise InvalidInput(
            "the two inputs share too few fields to link: need at least a NINO, a date of birth with a name or "
            "postcode, or a given name and surname on both sides")
    return SettingsCreator(
        link_type="link_only",
        unique_id_column_name="id",
        comparisons=splink_comparisons(fields),
        blocking_rules_to_generate_predictions=[block_on(*rule) for rule in rules],
        retain_matching_columns=False,
        retain_intermediate_calculation_columns=True,
        max_iterations=20,
        em_convergence=0.001,
    )


def compile_settings(model: LinkageModel | None, fields: Sequence[str], dialect: str) -> dict[str, Any]:
    """Splink settings for a dialect, with the model's trained parameters (or none, to train)."""
    settings = _settings_creator(fields).create_settings_dict(dialect)
    if model is None:
        return settings
    settings["probability_two_random_records_match"] = model.probability_two_random_records_match
    for comparison in settings["comparisons"]:
        name = comparison["output_column_name"]
        trained = model.comparisons.get(name)
        levels = [level for level in comparison["comparison_levels"] if not level.get("is_null_level")]
        if trained is None or len(trained) != len(levels):
            raise InvalidInput(f"the model's comparison '{name}' does not fit this version of Accord "
                               "(retrain the model)")
        for level, values in zip(levels, trained):
            if values.get("m") is not None:
                level["m_probability"] = values["m"]
            if values.get("u") is not None:
                level["u_probability"] = values["u"]
    return settings


def _floor(values: list[float | None], floor: float) -> list[float | None]:
    """Probabilities raised to at least ``floor`` and renormalised.

    EM drives the m of a level it never sees among matches to nearly zero (a weight of -150 for a
    date of birth one digit out), which would make that level veto any pair. Real data has errors
    the training data did not show, so no level is treated as impossible.
    """
    present = [v for v in values if v is not None]
    if not present:
        return values
    raised = [None if v is None else max(float(v), floor) for v in values]
    total = sum(v for v in raised if v is not None)
    return [None if v is None else v / total for v in raised]


def _model_from_linker(linker: Any, fields: Sequence[str], training: dict[str, Any]) -> LinkageModel:
    settings = linker.misc.save_model_to_json()
    comparisons: dict[str, list[dict[str, Any]]] = {}
    for comparison in settings["comparisons"]:
        levels = [level for level in comparison["comparison_levels"] if not level.get("is_null_level")]
        ms = _floor([level.get("m_probability") for level in levels], M_FLOOR)
        us = _floor([level.get("u_probability") for level in levels], U_FLOOR)
        comparisons[comparison["output_column_name"]] = [
            {"label": level.get("label_for_charts") or level["sql_condition"], "m": m, "u": u}
            for level, m, u in zip(levels, ms, us)
        ]
        for level, m, u in zip(levels, ms, us):
            level["m_probability"], level["u_probability"] = m, u
    training = {**training, "m_floor": M_FLOOR, "u_floor": U_FLOOR}
    return LinkageModel(list(fields), float(settings["probability_two_random_records_match"]), comparisons,
                        training=training, splink_settings=settings)


# --------------------------------------------------------------------------- inputs


def common_fields(left: pa.Table, right: pa.Table) -> list[str]:
    """Standard fields with at least one value on both sides, in standard order."""
    return [f for f in STANDARD_FIELDS
            if f in left.column_names and f in right.column_names
            and left.column(f).null_count < left.num_rows and right.column(f).null_count < right.num_rows]


def linkage_table(std: pa.Table, fields: Sequence[str]) -> pa.Table:
    """The columns Splink reads: id, the model's fields and the derived blocking columns."""
    n = std.num_rows
    columns: dict[str, pa.Array | pa.ChunkedArray] = {"id": std.column("id")}
    for name in fields:
        columns[name] = std.column(name) if name in std.column_names else pa.nulls(n, pa.string())
    first = columns.get("first_name")
    columns["first_name_canon"] = (canonical_first_names(first) if first is not None
                                   else pa.nulls(n, pa.string()))
    dob = columns.get("dob")
    columns["birth_year"] = pc.year(dob).cast(pa.int32()) if dob is not None else pa.nulls(n, pa.int32())
    if dob is not None and not pa.types.is_date32(dob.type):
        columns["dob"] = pa.nulls(n, pa.date32())
    return pa.table(columns)


# --------------------------------------------------------------------------- training and prediction


@contextmanager
def _quiet_splink() -> Iterator[None]:
    """Splink reports its progress through logging; the CLI shows its own, so keep Splink's to errors."""
    logger = logging.getLogger("splink")
    level, propagate = logger.level, logger.propagate
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)
        logger.propagate = propagate


def _linker(engine: Any, left: pa.Table, right: pa.Table, settings: dict[str, Any]) -> Any:
    from splink import Linker

    frames = [engine.register(left, SOURCE_LEFT), engine.register(right, SOURCE_RIGHT)]
    return Linker(frames, settings, log_level=None)


@dataclass
class TrainingOptions:
    """How much work training does; the defaults suit one to ten million records a side.

    ``sample_rows``: training uses at most this many records of each side, drawn at random
    independently. A pair survives sampling with the same chance whether it matches or not,
    so the prior, u and EM's m are estimated without bias from the sample, at a cost that does
    not grow with the inputs. Prediction always uses every record.
    """

    sample_rows: int = 300_000
    u_pairs: float = 1e6
    u_chunks: int = 4  # Splink stops early once every level has been seen 100 times; each chunk costs a pass
    em_pairs: float = 2e6
    prior_recall: float = 0.85
    seed: int = 42


def _training_sample(table: pa.Table, rows: int, seed: int) -> pa.Table:
    if table.num_rows <= rows:
        return table
    import numpy as np

    chosen = np.sort(np.random.default_rng(seed).choice(table.num_rows, size=rows, replace=False))
    return table.take(pa.array(chosen))


def train(left: pa.Table, right: pa.Table, engine: str = "duckdb", fields: Sequence[str] | None = None,
          options: TrainingOptions | None = None, progress: Progress | None = None,
          engine_options: dict[str, Any] | None = None) -> LinkageModel:
    """Train a model on two prepared tables (``prepare.STANDARD_SCHEMA``)."""
    from splink import block_on
    from splink.internals.exceptions import SplinkException

    options = options or TrainingOptions()
    say = progress or (lambda _stage: None)
    fields = list(fields or common_fields(left, right))
    if not fields:
        raise InvalidInput("the two inputs have no standard field with values on both sides")
    settings = compile_settings(None, fields, _dialect(engine))
    started = time.perf_counter()
    left_sample = _training_sample(left, options.sample_rows, options.seed)
    right_sample = _training_sample(right, options.sample_rows, options.seed + 1)
    eng = open_engine(engine, **(engine_options or {}))
    sessions: list[dict[str, Any]] = []
    try:
        with _quiet_splink():
            say("registering records")
            linker = _linker(eng, linkage_table(left_sample, fields), linkage_table(right_sample, fields), settings)
            say("estimating the prior")
            deterministic = [block_on(*rule) for rule in _prior_rules(fields)]
            try:
                linker.training.estimate_probability_two_random_records_match(deterministic,
                                                                              recall=options.prior_recall)
            except (ValueError, SplinkException) as exc:
                log.warning("prior not estimated, using the default: %s", exc)
            say("estimating u from random pairs")
            linker.training.estimate_u_using_random_sampling(max_pairs=options.u_pairs, seed=options.seed,
                                                             num_chunks=options.u_chunks)
            for rule in _em_rules(fields):
                say(f"expectation maximisation, pairs blocked on {' and '.join(rule)}")
                try:
                    session = linker.training.estimate_parameters_using_expectation_maximisation(
                        block_on(*rule), estimate_without_term_frequencies=True, max_pairs=options.em_pairs)
                    sessions.append({"blocked_on": list(rule),
                                     "iterations": max(0, len(getattr(session, "_core_model_settings_history", []) or []) - 1)})
                except (SplinkException, ValueError, ZeroDivisionError) as exc:
                    log.warning("EM blocked on %s skipped: %s", rule, exc)
            training = {
                "left_rows": left.num_rows, "right_rows": right.num_rows,
                "sample_rows": [left_sample.num_rows, right_sample.num_rows], "fields": fields,
                "engine": engine, "em_sessions": sessions, "u_pairs": options.u_pairs,
                "em_pairs": options.em_pairs, "prior_recall": options.prior_recall,
                "seconds": round(time.perf_counter() - started, 1), "splink": _splink_version(),
            }
            model = _model_from_linker(linker, fields, training)
    finally:
        eng.close()
    if not sessions:
        raise InvalidInput("training found no pairs to learn from: the inputs share no date of birth, "
                           "postcode or name")
    return model


def _prior_rules(fields: Sequence[str]) -> list[tuple[str, ...]]:
    have = set(fields)
    rules = [r for r in (("first_name_canon", "surname", "dob"), ("nino", "dob")) if _rule_fields(r) <= have]
    return rules or [r for r in (("first_name_canon", "surname"), ("nino",)) if _rule_fields(r) <= have]


def _em_rules(fields: Sequence[str]) -> list[tuple[str, ...]]:
    """Two EM sessions that between them estimate every comparison."""
    have = set(fields)
    first = next((r for r in (("dob",), ("nino",), ("surname",)) if _rule_fields(r) <= have), None)
    # Not postcode and surname: those pairs are mostly other members of the household, and EM would
    # learn to find households. Pairs sharing a postcode and a given name are mostly the same person.
    second = next((r for r in (("postcode", "first_name_canon"), ("address", "first_name_canon"),
                               ("first_name_canon", "surname")) if _rule_fields(r) <= have), None)
    return [r for r in (first, second) if r is not None]


def _dialect(engine: str) -> str:
    if engine not in ENGINES:
        raise InvalidInput(f"unknown engine '{engine}' (engines: {', '.join(ENGINES)})")
    return engine


def _splink_version() -> str:
    import splink

    return str(splink.__version__)


@dataclass
class LinkResult:
    pairs: int
    out: Path
    seconds: float
    columns: list[str]
    chunks: int = 1


def prior_for(model: LinkageModel, left_rows: int, right_rows: int) -> float:
    """The prior for linking inputs of these sizes with a model trained on inputs of other sizes.

    The prior is the chance that two records drawn at random match: the number of matching pairs
    over left x right. Between two bodies' views of one population the matches grow with the
    smaller side, so the prior scales as 1 / (the larger side): a model trained on a million
    records a side and used on ten million would otherwise start every pair ten times likelier.
    """
    trained_left = int(model.training.get("left_rows") or 0)
    trained_right = int(model.training.get("right_rows") or 0)
    if not (trained_left and trained_right and left_rows and right_rows):
        return model.probability_two_random_records_match
    scale = max(trained_left, trained_right) / max(left_rows, right_rows)
    return min(0.5, model.probability_two_random_records_match * scale)


def _output_sql(fields: Sequence[str], settings: dict[str, Any], prior: float) -> str:
    """left_id, right_id, match_probability, match_weight and each field's match-weight contribution.

    A field's contribution is its level's log2(m/u) plus its term-frequency adjustment; they and
    ``mw_prior`` (the prior's log-odds) add up to ``match_weight``. Rows are sorted by the ids, so the
    same inputs and model always give the same file.
    """
    prior_weight = math.log2(prior / (1 - prior))
    parts = [
        f"CASE WHEN source_dataset_l = '{SOURCE_LEFT}' THEN id_l ELSE id_r END AS left_id",
        f"CASE WHEN source_dataset_l = '{SOURCE_LEFT}' THEN id_r ELSE id_l END AS right_id",
        "match_probability",
        "match_weight",
        f"CAST({prior_weight!r} AS DOUBLE) AS mw_prior",
    ]
    for comparison in settings["comparisons"]:
        name = comparison["output_column_name"]
        has_tf = any(level.get("tf_adjustment_column") for level in comparison["comparison_levels"])
        contribution = f"mw_{name}" + (f" + coalesce(mw_tf_adj_{name}, 0)" if has_tf else "")
        parts.append(f"({contribution}) AS mw_{name}")
    return "SELECT " + ", ".join(parts) + " FROM {table} ORDER BY left_id, right_id"


def predict(left: pa.Table, right: pa.Table, model: LinkageModel, out: Path, engine: str = "duckdb",
            threshold: float = DEFAULT_THRESHOLD, chunks: int = 1, progress: Progress | None = None,
            engine_options: dict[str, Any] | None = None) -> LinkResult:
    """Score the blocked pairs with the model and write those at or above ``threshold`` to ``out``.

    ``out`` is written as given (callers write to a temporary name and rename). With ``chunks`` > 1
    both sides are split into that many parts by a hash of the id and each pair of parts is scored
    separately, appending to the output as it goes.
    """
    say = progress or (lambda _stage: None)
    settings = compile_settings(model, model.fields, _dialect(engine))
    prior = prior_for(model, left.num_rows, right.num_rows)
    settings["probability_two_random_records_match"] = prior
    started = time.perf_counter()
    eng = open_engine(engine, **(engine_options or {}))
    try:
        with _quiet_splink():
            say("registering records")
            linker = _linker(eng, linkage_table(left, model.fields), linkage_table(right, model.fields), settings)
            select = _output_sql(model.fields, settings, prior)
            if chunks <= 1:
                say("scoring blocked pairs")
                predictions = linker.inference.predict(threshold_match_probability=threshold,
                                                       warning_mode="never")
                say("writing matches")
                rows = eng.write(predictions, select, out)
                predictions.drop_table_from_database_and_remove_from_cache()
            else:
                rows = _predict_in_chunks(eng, linker, select, out, threshold, chunks, say)
            columns = output_columns(settings)
    finally:
        eng.close()
    return LinkResult(rows, out, round(time.perf_counter() - started, 2), columns, max(1, chunks))


def output_columns(settings: dict[str, Any]) -> list[str]:
    """The output's columns, in order (see ``_output_sql``)."""
    return (["left_id", "right_id", "match_probability", "match_weight", "mw_prior"]
            + [f"mw_{c['output_column_name']}" for c in settings["comparisons"]])


def _predict_in_chunks(eng: Any, linker: Any, select: str, out: Path, threshold: float, chunks: int,
                       say: Progress) -> int:
    """Every (left chunk, right chunk) scored in turn; parts written to a directory, then joined into ``out``."""
    import pyarrow.dataset as pads
    import pyarrow.parquet as pq

    parts_dir = Path(tempfile.mkdtemp(prefix=f".{out.name}.parts-", dir=out.parent))
    try:
        total = chunks * chunks
        done = 0
        for i in range(1, chunks + 1):
            for j in range(1, chunks + 1):
                done += 1
                say(f"scoring chunk {done} of {total}")
                predictions = linker.inference.predict_chunk(left_chunk=(i, chunks), right_chunk=(j, chunks),
                                                             threshold_match_probability=threshold,
                                                             warning_mode="never")
                eng.write(predictions, select, parts_dir / f"part-{i:04d}-{j:04d}.parquet")
                predictions.drop_table_from_database_and_remove_from_cache()
        say("writing matches")
        dataset = pads.dataset(str(parts_dir), format="parquet")
        rows = 0
        if out.suffix.lower() == ".csv":
            import pyarrow.csv as pacsv

            with pacsv.CSVWriter(out, dataset.schema) as writer:
                for batch in dataset.to_batches():
                    writer.write_batch(batch)
                    rows += batch.num_rows
        else:
            with pq.ParquetWriter(out, dataset.schema, compression="zstd") as writer:
                for batch in dataset.to_batches():
                    writer.write_batch(batch)
                    rows += batch.num_rows
        return rows
    finally:
        import shutil

        shutil.rmtree(parts_dir, ignore_errors=True)
