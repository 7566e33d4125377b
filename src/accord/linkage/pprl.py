"""Privacy-preserving record linkage: bodies encode identifiers into keyed Bloom filters; the hub links on Dice.

Flow (docs/pprl.md):

1. The bodies party to an agreement share a secret out of band; the hub never
   holds it. Each derives the same key with ``derive_agreement_key(secret,
   agreement_id, version)``, so encodings for one agreement (or key version)
   cannot be joined with another's.
2. Each body runs ``encode_table`` (``accord encode``) on its standardised
   records and uploads only the result: its own record ids and one Bloom
   filter per field (``accord.linkage.bloom``). The encoding parameters, the
   agreement, the key version and a fingerprint of the key are recorded in
   the schema metadata.
3. The hub runs ``link_encoded``: it refuses encodings whose parameters or
   keys differ, finds candidate pairs by equality of whole filters (blocking
   reveals nothing the filters do not), computes per-field Dice coefficients
   with NumPy popcount, and scores each pair with a Fellegi–Sunter model
   trained by EM on per-field Dice levels.

The model: u-probabilities (how often non-matching records reach each Dice
level) come from a sample of random pairs, corrected for the few matches
such a sample holds; m-probabilities come from EM sessions, each over the
pairs that agree on one session rule (as Splink trains); the share of all
pairs that match comes from EM over the candidates, with the pairs blocking
did not produce counted as non-matches. A pair's match weight is the log2 of
its prior odds plus, for each field compared, log2(m / u) of the pair's
level; its match probability follows from the weight.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import uuid
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from accord.errors import InvalidInput
from accord.linkage import bloom
from accord.privacy.labels import PPRL_FINGERPRINT, pprl_agreement_label

FORMAT = "accord-pprl-field-bloom-filters"
FORMAT_VERSION = 1
METADATA_KEY = b"accord.pprl"
MODEL_METADATA_KEY = b"accord.pprl.model"  # on link results: candidates, rules and the trained model
HASHING = "hmac-sha512-random-positions, per-field HKDF keys, xor-folded"
MIN_KEY_BYTES = 32
DEFAULT_THRESHOLD = 0.5

# Candidate pairs: records whose filters are identical on every field of a rule, for any rule.
# Identical filters mean identical values, which deterministic filters reveal anyway. Date of birth
# alone is not a rule: at a million records a side it makes ~50M pairs (every birthday shared by
# strangers) and, on synthetic data, finds fewer than 1 in 10,000 true pairs that these miss.
BLOCKING_RULES: tuple[tuple[str, ...], ...] = (
    ("nino",),
    ("first_name", "dob"),
    ("surname", "dob"),
    ("dob", "postcode"),
    ("first_name", "surname"),
    ("surname", "postcode"),
    ("first_name", "postcode"),
    ("uprn",),
)

# Where a person lives: a pair is compared on the first of these that both records hold, and only
# on that one. Members of a household agree on all three, and counting each as independent
# evidence would link them as one person; but a record without a postcode still has its address.
LOCATION_FIELDS = ("postcode", "uprn", "address")

# Dice levels for the model, highest first: identical filters, then bands of similarity.
DICE_LEVELS: tuple[float, ...] = (1.0, 0.85, 0.7, 0.55)
RANDOM_PAIRS = 1_000_000  # random pairs sampled to estimate u-probabilities
PAIR_CHUNK = 4_000_000  # candidate pairs scored at a time
EM_ITERATIONS = 200


# --------------------------------------------------------------------------- keys


class AgreementKey(bytes):
    """A derived key that remembers its agreement and version, so encodings can record them."""

    agreement_id: str
    version: int

    def __new__(cls, key: bytes, agreement_id: str, version: int) -> AgreementKey:
        self = super().__new__(cls, key)
        self.agreement_id = agreement_id
        self.version = version
        return self

    def __repr__(self) -> str:  # never show the key itself
        return f"AgreementKey(agreement_id={self.agreement_id!r}, version={self.version})"


def derive_agreement_key(secret: bytes, agreement_id: str, version: int = 1) -> bytes:
    """The Bloom-filter key for one agreement and key version (HKDF-SHA256 from the shared secret).

    The secret is shared by the linked bodies out of band. A new version (a
    rotated key) or another agreement gives an unrelated key, so encodings
    made under one cannot be linked with encodings made under the other.
    """
    if not isinstance(secret, (bytes, bytearray)) or len(secret) < MIN_KEY_BYTES:
        raise InvalidInput(f"the shared secret must be at least {MIN_KEY_BYTES} bytes")
    if not agreement_id or not isinstance(agreement_id, str):
        raise InvalidInput("an agreement id is required to derive a key")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise InvalidInput("the key version must be a whole number from 1")
    info = pprl_agreement_label(agreement_id, version)
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(bytes(secret))
    return AgreementKey(key, agreement_id, version)


def key_fingerprint(key: bytes) -> str:
    """A short keyed digest that shows two encodings used the same key, without revealing it."""
    return hmac.digest(bytes(key), PPRL_FINGERPRINT, hashlib.sha256)[:12].hex()


# --------------------------------------------------------------------------- encoding


def filter_column(field: str) -> str:
    return f"bf_{field}"


def encoding_parameters(key: bytes) -> dict:
    """What an encoding records about itself: scheme, fields, filter sizes, agreement, key version, key fingerprint."""
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "hashing": HASHING,
        "fields": [spec.as_dict() for spec in bloom.FIELD_SPECS],
        "agreement_id": getattr(key, "agreement_id", None),
        "key_version": getattr(key, "version", None),
        "key_fingerprint": key_fingerprint(key),
    }


def encode_table(std: pa.Table, key: bytes) -> pa.Table:
    """A standardised table as ``id`` plus one keyed, XOR-folded Bloom filter per standard field.

    ``std`` has ``id`` and any of the standard fields (absent or null fields
    give null filters); ``dob`` must already be a date column. The same input
    and key always give the same encoding. Sex is not encoded (see
    ``bloom.FIELD_SPECS``).
    """
    if not isinstance(key, (bytes, bytearray)) or len(key) < MIN_KEY_BYTES:
        raise InvalidInput(f"the encoding key must be at least {MIN_KEY_BYTES} bytes")
    if "id" not in std.column_names:
        raise InvalidInput("the standardised table has no 'id' column")
    ids = std.column("id").cast(pa.string())
    if ids.null_count:
        raise InvalidInput("the 'id' column has empty values")
    for spec in bloom.FIELD_SPECS:
        if spec.name in std.column_names:
            values = std.column(spec.name)
            if spec.tokens == "date" and not (pa.types.is_date(values.type) or pa.types.is_timestamp(values.type)
                                              or pa.types.is_null(values.type)):
                raise InvalidInput(f"column '{spec.name}' must hold dates (standardise the table first)")

    def encode(spec: bloom.FieldSpec) -> pa.Array:
        if spec.name not in std.column_names or pa.types.is_null(std.column(spec.name).type):
            return pa.nulls(std.num_rows, type=pa.binary(spec.bits // 8))
        return bloom.encode_column(std.column(spec.name), spec, bloom.field_key(bytes(key), spec.name))

    # NumPy and Arrow release the GIL, so fields encode in parallel; the result does not depend on it.
    with ThreadPoolExecutor(max_workers=max(1, min(len(bloom.FIELD_SPECS), os.cpu_count() or 1))) as pool:
        columns = list(pool.map(encode, bloom.FIELD_SPECS))
    names = ["id"] + [filter_column(spec.name) for spec in bloom.FIELD_SPECS]
    arrays = [ids] + columns
    metadata = {METADATA_KEY: json.dumps(encoding_parameters(key), sort_keys=True).encode()}
    return pa.table(arrays, names=names).replace_schema_metadata(metadata)


def is_encoded(schema: pa.Schema) -> bool:
    """True if the schema is an Accord Bloom-filter encoding (it carries the encoding parameters)."""
    return bool(schema.metadata) and METADATA_KEY in schema.metadata


def parameters(raw: bytes, source: str = "input") -> tuple[dict, list[bloom.FieldSpec]]:
    """Encoding parameters from their JSON, and the field specs; InvalidInput if unreadable or another format."""
    try:
        params = json.loads(raw)
        fields = [bloom.FieldSpec(**f) for f in params["fields"]]
    except (ValueError, TypeError, KeyError):
        raise InvalidInput(f"{source}: the encoding parameters in its metadata are unreadable") from None
    if params.get("format") != FORMAT or params.get("format_version") != FORMAT_VERSION:
        raise InvalidInput(f"{source}: encoded in format {params.get('format')} version "
                           f"{params.get('format_version')}; this Accord reads {FORMAT} version {FORMAT_VERSION}")
    return params, fields


def encoding_of(schema: pa.Schema, source: str = "input") -> dict:
    """The recorded encoding parameters, checked against the columns; InvalidInput if not an encoding."""
    if not is_encoded(schema):
        raise InvalidInput(f"{source}: not a Bloom-filter encoding (make one with `accord encode`)")
    params, fields = parameters(schema.metadata[METADATA_KEY], source)
    if "id" not in schema.names:
        raise InvalidInput(f"{source}: the encoding has no 'id' column")
    for spec in fields:
        name = filter_column(spec.name)
        if name not in schema.names:
            raise InvalidInput(f"{source}: column '{name}' is missing from the encoding")
        if schema.field(name).type != pa.binary(spec.bits // 8):
            raise InvalidInput(f"{source}: column '{name}' is not {spec.bits}-bit filters as its metadata says")
    return params


def check_compatible(left: dict, right: dict) -> None:
    """Refuse to link encodings made with different parameters, agreements, key versions or keys."""
    if left["fields"] != right["fields"] or left.get("hashing") != right.get("hashing"):
        raise InvalidInput("the two files were encoded with different Bloom-filter parameters; "
                           "re-encode both with the same version of `accord encode`")
    if left.get("agreement_id") != right.get("agreement_id"):
        raise InvalidInput(f"the left file was encoded for agreement {left.get('agreement_id')!r} and the right "
                           f"for {right.get('agreement_id')!r}: encodings from different agreements cannot be linked")
    if left.get("key_version") != right.get("key_version"):
        raise InvalidInput(f"the left file was encoded with key version {left.get('key_version')} and the right "
                           f"with version {right.get('key_version')}: re-encode both with the same key version")
    if left.get("key_fingerprint") != right.get("key_fingerprint"):
        raise InvalidInput("the two files were encoded with different secrets (their key fingerprints differ): "
                           "both bodies must use the secret shared for this agreement")


# --------------------------------------------------------------------------- files

ENCODED_SUFFIXES = (".parquet", ".csv")
_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)


def sidecar_path(path: Path) -> Path:
    """Where a CSV encoding's parameters are kept (CSV has no metadata): ``OUT.csv.pprl.json``."""
    return path.with_name(path.name + ".pprl.json")


def _to_hex(column: pa.Array) -> pa.Array:
    width = column.type.byte_width
    raw = np.frombuffer(column.buffers()[1], dtype=np.uint8, count=(len(column) + column.offset) * width)
    raw = raw[column.offset * width:].reshape(len(column), width)
    text = np.empty((len(column), 2 * width), dtype=np.uint8)
    text[:, 0::2], text[:, 1::2] = _HEX[raw >> 4], _HEX[raw & 15]
    offsets = np.arange(len(column) + 1, dtype=np.int32) * (2 * width)
    validity = column.buffers()[0] if column.null_count else None
    return pa.StringArray.from_buffers(len(column), pa.py_buffer(offsets), pa.py_buffer(text.tobytes()),
                                       validity, column.null_count, 0)


def _from_hex(column: pa.Array, width: int, source: str, name: str) -> pa.Array:
    bad = InvalidInput(f"{source}: column '{name}' does not hold {width * 8}-bit filters as hexadecimal")
    column = column.cast(pa.string())
    filled = column.fill_null("0" * 2 * width)
    if len(filled) and not pc.all(pc.equal(pc.binary_length(filled), 2 * width)).as_py():
        raise bad
    start = int(np.frombuffer(filled.buffers()[1], np.int32, count=filled.offset + 1)[filled.offset])
    text = np.frombuffer(filled.buffers()[2], dtype=np.uint8, count=start + len(filled) * 2 * width)[start:]
    lookup = np.full(256, 255, dtype=np.uint8)
    lookup[_HEX] = np.arange(16, dtype=np.uint8)
    lookup[np.frombuffer(b"ABCDEF", np.uint8)] = np.arange(10, 16, dtype=np.uint8)
    nibbles = lookup[text.reshape(len(filled), 2 * width)]
    if (nibbles == 255).any():
        raise bad
    data = (nibbles[:, 0::2] << 4) | nibbles[:, 1::2]
    flat = pa.FixedSizeBinaryArray.from_buffers(pa.binary(width), len(column), [None, pa.py_buffer(data.tobytes())])
    return pc.if_else(column.is_valid(), flat, pa.nulls(len(column), pa.binary(width)))


def write_encoded(table: pa.Table, path: Path) -> None:
    """Write an encoding as Parquet (parameters in its metadata) or CSV (hexadecimal filters, parameters in
    ``sidecar_path``), under temporary names renamed into place, so a failure leaves nothing behind."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in ENCODED_SUFFIXES:
        raise InvalidInput(f"{path.name}: an encoding is written as .parquet or .csv")
    if not is_encoded(table.schema):
        raise InvalidInput("the table is not a Bloom-filter encoding")
    tag = f".partial-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    tmp = path.with_name(f".{path.name}{tag}")
    written: list[tuple[Path, Path]] = [(tmp, path)]
    try:
        if suffix == ".parquet":
            pq.write_table(table, tmp, compression="zstd")
        else:
            columns = [_to_hex(c.combine_chunks()) if pa.types.is_fixed_size_binary(c.type) else c
                       for c in table.columns]
            pacsv.write_csv(pa.table(columns, names=table.column_names), tmp)
            side = sidecar_path(path)
            side_tmp = side.with_name(f".{side.name}{tag}")
            side_tmp.write_bytes(table.schema.metadata[METADATA_KEY] + b"\n")
            written.insert(0, (side_tmp, side))
        for source, target in written:
            os.replace(source, target)
    finally:
        for source, _ in written:
            source.unlink(missing_ok=True)


def read_encoded(path: Path, source: str | None = None) -> pa.Table:
    """An encoding written by ``write_encoded`` (Parquet, or CSV with its sidecar), checked; InvalidInput if not."""
    path = Path(path)
    source = source or str(path)
    suffix = path.suffix.lower()
    if suffix not in ENCODED_SUFFIXES:
        raise InvalidInput(f"{source}: an encoding is a .parquet or .csv file")
    if not path.is_file():
        raise InvalidInput(f"{source}: no such file")
    try:
        if suffix == ".parquet":
            table = pq.read_table(path)
        else:
            side = sidecar_path(path)
            if not side.is_file():
                raise InvalidInput(f"{source}: a CSV encoding needs its parameters file {side.name} beside it")
            metadata = side.read_bytes().strip()
            _, fields = parameters(metadata, f"{source} ({side.name})")
            widths = {filter_column(spec.name): spec.bits // 8 for spec in fields}
            table = pacsv.read_csv(path, convert_options=pacsv.ConvertOptions(
                column_types={name: pa.string() for name in ["id", *widths]}, strings_can_be_null=True))
            columns = [_from_hex(table.column(name).combine_chunks(), widths[name], source, name)
                       if name in widths else table.column(name) for name in table.column_names]
            table = pa.table(columns, names=table.column_names).replace_schema_metadata({METADATA_KEY: metadata})
    except (pa.ArrowInvalid, OSError) as exc:
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InvalidInput(f"{source}: cannot be read as an encoding ({first_line})") from None
    encoding_of(table.schema, source)
    return table


# --------------------------------------------------------------------------- blocking


@dataclass
class Filters:
    """One side's filters for linking: per field, word-major uint64 filters, validity and popcounts."""

    ids: pa.Array
    words: dict[str, np.ndarray]
    valid: dict[str, np.ndarray]
    counts: dict[str, np.ndarray]

    @classmethod
    def from_table(cls, table: pa.Table, fields: Sequence[bloom.FieldSpec]) -> Filters:
        words, valid, counts = {}, {}, {}
        for spec in fields:
            matrix, ok = bloom.as_words(table.column(filter_column(spec.name)), spec.words)
            words[spec.name], valid[spec.name], counts[spec.name] = matrix, ok, bloom.popcounts(matrix)
        ids = table.column("id").cast(pa.string()).combine_chunks()
        return cls(ids, words, valid, counts)

    def __len__(self) -> int:
        return len(self.ids)


_MIX = np.uint64(0x9E3779B97F4A7C15)


def _finalise(h: np.ndarray) -> np.ndarray:
    # splitmix64's finaliser: every input bit affects every output bit
    h = h ^ (h >> np.uint64(30))
    h = h * np.uint64(0xBF58476D1CE4E5B9)
    h = h ^ (h >> np.uint64(27))
    h = h * np.uint64(0x94D049BB133111EB)
    return h ^ (h >> np.uint64(31))


def rule_keys(filters: Filters, rule: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """A 64-bit hash of the rule's filters per record, and whether every field of the rule is present."""
    n = len(filters)
    h = np.zeros(n, dtype=np.uint64)
    present = np.ones(n, dtype=bool)
    with np.errstate(over="ignore"):
        for field in rule:
            present &= filters.valid[field]
            for word in filters.words[field]:
                h = _finalise((h ^ word) + _MIX)
    return h.view(np.int64), present


def candidate_pairs(left_keys: Sequence[tuple[np.ndarray, np.ndarray]],
                    right_keys: Sequence[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    """(left row, right row) for every pair that agrees on some rule's key, each pair once.

    A pair found by an earlier rule is not produced again by a later one (as
    Splink does), so no de-duplication pass is needed. The joins run in DuckDB.
    """
    if not left_keys:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)

    def side(keys: Sequence[tuple[np.ndarray, np.ndarray]], row: str) -> pa.Table:
        n = len(keys[0][0])
        columns = {row: pa.array(np.arange(n, dtype=np.int64))}
        for r, (values, present) in enumerate(keys):
            columns[f"k{r}"] = pa.array(values, mask=~present)
        return pa.table(columns)

    left, right = side(left_keys, "i"), side(right_keys, "j")
    selects = []
    for r in range(len(left_keys)):
        earlier = " OR ".join(f"coalesce(l.k{q} = r.k{q}, false)" for q in range(r))
        where = f" WHERE NOT ({earlier})" if earlier else ""
        selects.append(f"SELECT l.i, r.j FROM left_keys l JOIN right_keys r ON l.k{r} = r.k{r}{where}")
    connection = duckdb.connect()
    try:
        connection.register("left_keys", left)
        connection.register("right_keys", right)
        result = connection.execute(" UNION ALL ".join(selects)).fetchnumpy()
    finally:
        connection.close()
    return np.asarray(result["i"], dtype=np.int64), np.asarray(result["j"], dtype=np.int64)


# --------------------------------------------------------------------------- comparison


def field_dice(left: Filters, right: Filters, field: str, li: np.ndarray, ri: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Dice per pair on one field, and whether the field is present on both sides."""
    common = bloom.pair_common_bits(left.words[field], right.words[field], li, ri)
    both = left.valid[field][li] & right.valid[field][ri]
    return bloom.dice(common, left.counts[field][li], right.counts[field][ri]), both


def dice_levels(dice: np.ndarray, present: np.ndarray, levels: Sequence[float] = DICE_LEVELS) -> np.ndarray:
    """0 where missing on either side, 1 for the lowest band, up to len(levels) + 1 for identical filters."""
    out = np.ones(len(dice), dtype=np.int8)
    for threshold in sorted(levels):
        out += dice >= np.float32(threshold) - np.float32(1e-6)
    out[~present] = 0
    return out


def pattern_codes(level_columns: Sequence[np.ndarray], radix: int) -> np.ndarray:
    """One integer per pair for its tuple of field levels (mixed radix)."""
    code = np.zeros(len(level_columns[0]) if level_columns else 0, dtype=np.int64)
    for levels in level_columns:
        code = code * radix + levels
    return code


@dataclass
class Model:
    """A Fellegi–Sunter model on Dice levels: m and u per field and level (index 0, missing, unused)."""

    fields: list[str]
    levels: tuple[float, ...]
    m: np.ndarray  # (fields, levels + 2)
    u: np.ndarray
    prior: float  # probability that two records drawn at random are the same person
    iterations: int

    @property
    def radix(self) -> int:
        return len(self.levels) + 2

    @property
    def prior_weight(self) -> float:
        return float(np.log2(self.prior / (1 - self.prior)))

    def level_weights(self) -> np.ndarray:
        """log2(m / u) per field and level: each field's contribution to a pair's match weight."""
        bayes = np.log2(self.m) - np.log2(self.u)
        bayes[:, 0] = 0.0  # a field missing on either side is no evidence either way
        return bayes

    def pattern_weights(self) -> np.ndarray:
        """Match weight (log2 odds) of every level pattern, indexed by ``pattern_codes``."""
        bayes = self.level_weights()
        weights = np.full(1, self.prior_weight)
        for f in range(len(self.fields)):
            weights = (weights[:, None] + bayes[f][None, :]).reshape(-1)
        return weights

    def describe(self) -> dict:
        return {
            "prior": self.prior, "iterations": self.iterations, "levels": list(self.levels),
            "fields": {f: {"m": self.m[i, 1:].round(6).tolist(), "u": self.u[i, 1:].round(8).tolist()}
                       for i, f in enumerate(self.fields)},
        }


# EM sessions, as in Splink's training: all pairs identical on the session's fields (for a sample of
# left records), from which EM learns the m-probabilities of the other fields. These pairs are the
# same person or strangers who happen to share a birthday (or a name), nothing in between: EM over
# the linking candidates instead would see households (same surname and postcode) and strangers
# picked for sharing a name and a birthday, and learn them as "matches".
TRAINING_SESSIONS: tuple[tuple[str, ...], ...] = (("dob",), ("nino",), ("first_name", "surname"))
MIN_SESSION_PAIRS = 20
SESSION_PAIRS = 2_000_000  # at most this many pairs per session (a sample of left records)


def _posterior(digits: np.ndarray, bayes: np.ndarray, prior: float) -> np.ndarray:
    logit = np.log2(prior / (1 - prior)) + bayes[np.arange(len(bayes))[:, None], digits].sum(axis=0)
    return 1.0 / (1.0 + np.exp2(-np.clip(logit, -60, 60)))


def _bayes(m: np.ndarray, u: np.ndarray, active: np.ndarray) -> np.ndarray:
    out = np.log2(m) - np.log2(u)
    out[:, 0] = 0.0  # a field missing on either side is no evidence either way
    out[~active] = 0.0
    return out


def _em(digits: np.ndarray, weight: np.ndarray, m: np.ndarray, u: np.ndarray, prior: float,
        active: np.ndarray, total: float, learn_m: bool = True) -> tuple[np.ndarray, float, int]:
    """EM for the prior and (if ``learn_m``) the m-probabilities of the active fields; u stays fixed."""
    m = m.copy()
    radix = m.shape[1]
    iterations = 0
    for iterations in range(1, EM_ITERATIONS + 1):  # noqa: B007 - the count is reported
        matched = _posterior(digits, _bayes(m, u, active), prior) * weight
        new_m = m.copy()
        if learn_m:
            for f in np.flatnonzero(active):
                per_level = np.bincount(digits[f], weights=matched, minlength=radix)
                per_level[0] = 0.0
                if per_level.sum() > 0:
                    new_m[f] = np.maximum(per_level / per_level.sum(), 1e-6)
                    new_m[f, 0] = 0.0
                    new_m[f] /= new_m[f].sum()
                    new_m[f, 0] = 1.0
        new_prior = float(min(max(matched.sum() / total, 1e-12), 1 - 1e-9))
        change = max(float(np.abs(new_m - m).max()), abs(new_prior - prior) / prior)
        m, prior = new_m, new_prior
        if change < 1e-7:
            break
    return m, prior, iterations


def _digits(patterns: np.ndarray, nf: int, radix: int) -> tuple[np.ndarray, np.ndarray]:
    """The distinct level patterns as (fields, patterns) digits, and how many pairs have each."""
    counts = np.bincount(patterns, minlength=radix ** nf).astype(np.float64)
    used = np.flatnonzero(counts)
    return np.stack([(used // radix ** (nf - 1 - f)) % radix for f in range(nf)]), counts[used]


def fit_model(fields: Sequence[str], patterns: np.ndarray, random_levels: Sequence[np.ndarray],
              total_pairs: int, sessions: Sequence[tuple[Sequence[str], np.ndarray]] = (),
              levels: Sequence[float] = DICE_LEVELS) -> Model:
    """Train the model: u from random pairs, m by EM sessions, then the prior by EM over all candidates.

    ``patterns`` are the candidates' ``pattern_codes``; ``random_levels`` the
    Dice levels of each field for random pairs; ``total_pairs`` the number of
    all possible pairs (left rows x right rows), of which those not among the
    candidates are taken to be non-matches; ``sessions`` the training pairs'
    pattern codes for each session rule (``TRAINING_SESSIONS``). A random
    sample holds a few matches too, so u is corrected for them once m and the
    prior are known. A field no session could train keeps a conservative
    default m (identical for most matches).
    """
    radix = len(levels) + 2
    nf = len(fields)
    random_share = np.zeros((nf, radix))
    for f, lv in enumerate(random_levels):
        c = np.bincount(lv, minlength=radix).astype(np.float64)
        c[0] = 0.0
        random_share[f] = c / max(c.sum(), 1.0)
    floor = 0.1 / max(len(random_levels[0]) if len(random_levels) else 1, 1)

    def u_given(m: np.ndarray, prior: float) -> np.ndarray:
        u = np.maximum((random_share - prior * m) / (1 - prior), floor)
        u[:, 0] = 0.0
        u /= u.sum(axis=1, keepdims=True)
        u[:, 0] = 1.0
        return u

    top = np.arange(radix, dtype=np.float64)
    m = np.tile(0.25 ** (radix - 1 - top), (nf, 1))  # to start: matches mostly identical, rarely far apart
    m[:, 0] = 0.0
    m /= m.sum(axis=1, keepdims=True)
    m[:, 0] = 1.0
    u = u_given(m, 0.0)
    estimates: list[list[np.ndarray]] = [[] for _ in fields]
    for rule, session_patterns in sessions:
        if len(session_patterns) < MIN_SESSION_PAIRS:
            continue
        digits, weight = _digits(session_patterns, nf, radix)
        active = np.array([f not in rule for f in fields])
        learned, _, _ = _em(digits, weight, m, u, 0.1, active, weight.sum())
        for f in np.flatnonzero(active):
            estimates[f].append(learned[f])
    for f in range(nf):
        if estimates[f]:
            m[f] = np.mean(estimates[f], axis=0)
    digits, weight = _digits(patterns, nf, radix)
    prior = min(1.0, max(1.0, np.sqrt(total_pairs))) / total_pairs
    everything = np.ones(nf, dtype=bool)
    iterations = 0
    for _ in range(3):
        _, prior, iterations = _em(digits, weight, m, u, prior, everything, float(total_pairs), learn_m=False)
        u = u_given(m, prior)
    return Model(list(fields), tuple(levels), m, u, prior, iterations)


# --------------------------------------------------------------------------- linking


def _fields_in_both(params: dict, left: pa.Table, right: pa.Table) -> list[bloom.FieldSpec]:
    specs = [bloom.FieldSpec(**f) for f in params["fields"]]
    return [s for s in specs
            if left.column(filter_column(s.name)).null_count < left.num_rows
            and right.column(filter_column(s.name)).null_count < right.num_rows]


def comparison_fields(specs: list[bloom.FieldSpec]) -> list[bloom.FieldSpec]:
    """The fields the model compares, of those both sides hold (location fields in ``LOCATION_FIELDS`` order)."""
    order = {name: i for i, name in enumerate(LOCATION_FIELDS)}
    people = [s for s in specs if s.name not in order]
    return people + sorted((s for s in specs if s.name in order), key=lambda s: order[s.name])


def _field_levels(left: Filters, right: Filters, names: Sequence[str], li: np.ndarray, ri: np.ndarray
                  ) -> list[np.ndarray]:
    """Dice levels per field; a location field counts as missing where an earlier one was compared."""
    columns, located = [], None
    for f in names:
        levels = dice_levels(*field_dice(left, right, f, li, ri))
        if f in LOCATION_FIELDS:
            if located is None:
                located = levels > 0
            else:
                levels[located] = 0
                located |= levels > 0
        columns.append(levels)
    return columns


def _patterns(left: Filters, right: Filters, names: Sequence[str], li: np.ndarray, ri: np.ndarray) -> np.ndarray:
    """Each pair's pattern of Dice levels over ``names``, computed in chunks."""
    radix = len(DICE_LEVELS) + 2
    patterns = np.empty(len(li), dtype=np.int64)
    for start in range(0, len(li), PAIR_CHUNK):
        a, b = li[start:start + PAIR_CHUNK], ri[start:start + PAIR_CHUNK]
        patterns[start:start + PAIR_CHUNK] = pattern_codes(_field_levels(left, right, names, a, b), radix)
    return patterns


def session_pairs(left: Filters, right: Filters, rule: Sequence[str], limit: int = SESSION_PAIRS,
                  seed: int = 20172) -> tuple[np.ndarray, np.ndarray]:
    """Pairs identical on ``rule`` for training, from a random sample of left records if all would be too many.

    The sample is sized from the expected number of pairs (the sum over key
    values of left count x right count), so the session stays within ``limit``.
    """
    lk, lp = rule_keys(left, rule)
    rk, rp = rule_keys(right, rule)
    rows = np.flatnonzero(lp)
    if len(rows) == 0 or not rp.any():
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    keys, right_counts = np.unique(rk[rp], return_counts=True)
    at = np.minimum(np.searchsorted(keys, lk[rows]), len(keys) - 1)
    per_left = np.where(keys[at] == lk[rows], right_counts[at], 0)
    expected = int(per_left.sum())
    if expected > limit:
        rng = np.random.default_rng(seed)
        rows = np.sort(rng.choice(rows, size=max(1, int(len(rows) * limit / expected)), replace=False))
    li, ri = candidate_pairs([(lk[rows], np.ones(len(rows), dtype=bool))], [(rk, rp)])
    return rows[li], ri


def _random_pairs(n_left: int, n_right: int, seed: int = 20171) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    size = min(RANDOM_PAIRS, n_left * n_right)
    return rng.integers(0, n_left, size), rng.integers(0, n_right, size)


def link_encoded(left_enc: pa.Table, right_enc: pa.Table, threshold: float | None = None) -> pa.Table:
    """Pairs of records from two encodings that are the same person: ``left_id, right_id, match_probability``.

    Also ``match_weight`` (log2 odds), ``dice`` over every field both records
    hold, and ``dice_<field>`` per field (null where either side lacks it).
    Pairs at or above ``threshold`` (default 0.5) are returned.
    """
    threshold = DEFAULT_THRESHOLD if threshold is None else threshold
    if not 0.0 <= threshold <= 1.0:
        raise InvalidInput(f"the threshold must be a probability between 0 and 1, not {threshold}")
    params = encoding_of(left_enc.schema, "left")
    check_compatible(params, encoding_of(right_enc.schema, "right"))
    specs = comparison_fields(_fields_in_both(params, left_enc, right_enc))
    names = [s.name for s in specs]
    if left_enc.num_rows == 0 or right_enc.num_rows == 0 or not specs:
        return _empty_result(names)
    left, right = Filters.from_table(left_enc, specs), Filters.from_table(right_enc, specs)
    return link_filters(left, right, names, threshold)


def link_filters(left: Filters, right: Filters, fields: Sequence[str], threshold: float = DEFAULT_THRESHOLD,
                 ) -> pa.Table:
    """Block, compare and score two sides' filters on ``fields``: the part of ``link_encoded`` after the checks.

    Any set-of-tokens bit vectors work: the tests pass exact (collision-free)
    token sets here to measure what the encoding itself costs in accuracy.
    """
    names = list(fields)
    rules = [rule for rule in BLOCKING_RULES if all(f in names for f in rule)]
    li, ri = candidate_pairs([rule_keys(left, r) for r in rules], [rule_keys(right, r) for r in rules])
    patterns = _patterns(left, right, names, li, ri)
    rl, rr = _random_pairs(len(left), len(right))
    random_levels = _field_levels(left, right, names, rl, rr)
    sessions = []
    for rule in TRAINING_SESSIONS:
        if all(f in names for f in rule):
            sl, sr = session_pairs(left, right, rule)
            sessions.append((rule, _patterns(left, right, names, sl, sr)))
    model = fit_model(names, patterns, random_levels, len(left) * len(right), sessions)
    pair_weights = model.pattern_weights()[patterns]
    probability = 1.0 / (1.0 + np.exp2(-np.clip(pair_weights, -60, 60)))
    keep = np.flatnonzero(probability >= threshold)
    keep = keep[np.lexsort((ri[keep], li[keep]))]  # DuckDB returns pairs in any order; results are sorted
    result = _result(left, right, names, li[keep], ri[keep], pair_weights[keep], probability[keep], model)
    summary = {"candidates": int(len(li)), "rules": [list(r) for r in rules], "model": model.describe()}
    return result.replace_schema_metadata({MODEL_METADATA_KEY: json.dumps(summary).encode()})


def _result(left: Filters, right: Filters, names: Sequence[str], li: np.ndarray, ri: np.ndarray,
            weights: np.ndarray, probability: np.ndarray, model: Model) -> pa.Table:
    """The linked pairs with their explanation: Dice per field, and each field's part of the match weight."""
    columns = {
        "left_id": left.ids.take(pa.array(li)),
        "right_id": right.ids.take(pa.array(ri)),
        "match_probability": pa.array(probability, type=pa.float64()),
        "match_weight": pa.array(weights, type=pa.float64()),
    }
    common_total = np.zeros(len(li), dtype=np.float64)
    count_total = np.zeros(len(li), dtype=np.float64)
    per_field = {}
    for f in names:
        common = bloom.pair_common_bits(left.words[f], right.words[f], li, ri).astype(np.float64)
        both = left.valid[f][li] & right.valid[f][ri]
        counts = left.counts[f][li].astype(np.float64) + right.counts[f][ri]
        common_total += np.where(both, common, 0)
        count_total += np.where(both, counts, 0)
        per_field[f"dice_{f}"] = pa.array(np.where(both, 2 * common / np.maximum(counts, 1), 0.0), mask=~both)
    columns["dice"] = pa.array(np.where(count_total > 0, 2 * common_total / np.maximum(count_total, 1), 0.0))
    columns.update(per_field)
    columns["mw_prior"] = pa.array(np.full(len(li), model.prior_weight), type=pa.float64())
    bayes = model.level_weights()
    for f, levels in zip(names, _field_levels(left, right, names, li, ri)):
        columns[f"mw_{f}"] = pa.array(bayes[model.fields.index(f)][levels], type=pa.float64())
    return pa.table(columns)


def _empty_result(names: Sequence[str]) -> pa.Table:
    fields = [pa.field("left_id", pa.string()), pa.field("right_id", pa.string()),
              pa.field("match_probability", pa.float64()), pa.field("match_weight", pa.float64()),
              pa.field("dice", pa.float64())] + [pa.field(f"dice_{f}", pa.float64()) for f in names]
    fields += [pa.field("mw_prior", pa.float64())] + [pa.field(f"mw_{f}", pa.float64()) for f in names]
    return pa.schema(fields).empty_table()
