"""Keyed Bloom filters for standardised identifiers, built in batches with NumPy, and Dice on them.

A field value becomes a set of tokens (padded character bigrams for names,
postcodes, addresses, NINOs and UPRNs; year, month, day and the unordered
day/month pair for dates of birth), and each token sets ``hashes`` bits of a
filter of ``2 * bits`` bits, which is then XOR-folded in half to ``bits``.

Hardening (see docs/adr/0008-bloom-filter-encoding.md):

- keyed, per field: every field has its own key, derived from the agreement
  key, so nobody without the key can encode a guessed name to compare, and a
  bigram sets different bits in different fields;
- random hashing, not double hashing: a token's bit positions are read from
  its HMAC-SHA512 digest, so they are independent of each other (the
  double-hashing scheme ``h1 + i*h2`` is what the Niedermeyer et al. attack
  exploited);
- XOR-folding (Schnell, Borgs and Encarnação 2016): the two halves are
  XOR-ed, so one set bit no longer points at the tokens that could have set
  it, and the filter is half as long, which also halves the cost of Dice.

Work is done once per distinct value (a column of a million names holds a
few thousand distinct ones), and per distinct token: the HMAC runs once per
distinct bigram, and a row's filter is the OR of its tokens' precomputed
masks (``np.bitwise_or.reduceat``), in chunks so memory stays bounded.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import asdict, dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from accord.linkage.standardise import canonical_first_name
from accord.privacy.labels import pprl_field_label

PAD = ord("_")  # bigrams are taken over "_" + value + "_", so first and last letters weigh as much as the rest
CHUNK_ROWS = 262_144  # distinct values encoded at a time: bounds the token arrays to tens of MB
_TAG = 1 << 14  # date tokens: tag * _TAG + value, so year, month, day and pair tokens never collide
DENSE_CODES = 1 << 20  # token codes below this are indexed through a lookup table rather than a sort


@dataclass(frozen=True)
class FieldSpec:
    """How one standard field is encoded: its tokens, filter length (after folding) and bits per token."""

    name: str
    tokens: str  # "bigrams", "given-name bigrams" (nicknames as the formal name) or "date"
    bits: int  # filter length after XOR-folding: a multiple of 64
    hashes: int  # bit positions set per token (k), at most 32

    @property
    def words(self) -> int:
        return self.bits // 64

    def as_dict(self) -> dict:
        return asdict(self)


# Sizes chosen so a typical value fills ~30% of the unfolded filter (~40% after folding), where
# Dice separates similar from unrelated values best for the length; measured in bench/pprl.py.
# Sex is not encoded: a filter of a two-valued field has two patterns, which would show every
# record's sex to the hub, for little weight in the match.
FIELD_SPECS: tuple[FieldSpec, ...] = (
    FieldSpec("first_name", "given-name bigrams", 128, 10),
    FieldSpec("middle_name", "bigrams", 128, 10),
    FieldSpec("surname", "bigrams", 128, 10),
    FieldSpec("dob", "date", 64, 8),
    FieldSpec("postcode", "bigrams", 128, 10),
    FieldSpec("address", "bigrams", 256, 10),
    FieldSpec("nino", "bigrams", 128, 10),
    FieldSpec("uprn", "bigrams", 128, 10),
)


def field_key(key: bytes, field: str) -> bytes:
    """The key for one field's filters, derived from the agreement key (HKDF-SHA256)."""
    info = pprl_field_label(field)
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(key)


# --------------------------------------------------------------------------- tokens


def bigram_tokens(values: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """(row, code) for every padded bigram of every non-empty value; code = first byte * 256 + second.

    Arrow pads every value at once ("_" + value + "_"); the bigrams are then the
    adjacent byte pairs of its data buffer, less the pairs that straddle two values.
    """
    if not pa.types.is_string(values.type):
        values = values.cast(pa.string())
    values = pc.if_else(pc.equal(pc.binary_length(values), 0), pa.scalar(None, pa.string()), values)
    padded = pc.binary_join_element_wise(chr(PAD), values, chr(PAD), "")
    n = len(padded)
    offsets = np.frombuffer(padded.buffers()[1], dtype=np.int32, count=n + 1 + padded.offset)[padded.offset:]
    begin, end = int(offsets[0]), int(offsets[-1])
    if end - begin < 2:
        return np.zeros(0, np.int64), np.zeros(0, np.uint64)
    data = np.frombuffer(padded.buffers()[2], dtype=np.uint8, count=end)[begin:]
    codes = data[:-1].astype(np.uint64) * 256 + data[1:]
    straddle = (offsets[1:-1] - begin - 1).astype(np.int64)  # last byte of each value but the final one
    keep = np.ones(len(codes), dtype=bool)
    keep[straddle[(straddle >= 0) & (straddle < len(codes))]] = False
    lengths = np.diff(offsets).astype(np.int64)  # padded length, 0 for nulls
    rows = np.repeat(np.arange(n, dtype=np.int64), np.maximum(lengths - 1, 0))
    return rows, codes[keep]


def date_tokens(values: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """(row, code) for year, month, day and the unordered day/month pair (a swapped date keeps it)."""
    days = values.cast(pa.date32()).cast(pa.int32()).to_numpy(zero_copy_only=False)
    valid = values.is_valid().to_numpy(zero_copy_only=False)
    rows = np.flatnonzero(valid)
    as_dates = days[rows].astype("datetime64[D]")
    year = as_dates.astype("datetime64[Y]").astype(np.int64) + 1970
    month = as_dates.astype("datetime64[M]").astype(np.int64) % 12 + 1
    day = (as_dates - as_dates.astype("datetime64[M]")).astype(np.int64) + 1
    pair = np.minimum(day, month) * 100 + np.maximum(day, month)
    codes = np.stack([_TAG * 1 + year, _TAG * 2 + month, _TAG * 3 + day, _TAG * 4 + pair], axis=1)
    return np.repeat(rows, 4), codes.reshape(-1).astype(np.uint64)


def _formal_given_name(name: str | None) -> str | None:
    if not name:
        return name
    head, _, rest = name.partition(" ")
    formal = canonical_first_name(head) or head
    return f"{formal} {rest}" if rest else formal


def given_name_tokens(values: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """Bigrams of a given name with its first word as the formal name (Bill -> william), so nicknames agree."""
    if not pa.types.is_string(values.type):
        values = values.cast(pa.string())
    formal = pa.array([_formal_given_name(v) for v in values.to_pylist()], type=pa.string())
    return bigram_tokens(formal)


TOKENISERS = {"bigrams": bigram_tokens, "given-name bigrams": given_name_tokens, "date": date_tokens}


# --------------------------------------------------------------------------- filters


def token_masks(fkey: bytes, codes: np.ndarray, spec: FieldSpec) -> np.ndarray:
    """Each distinct token's unfolded filter as uint64 words: ``hashes`` bits from its HMAC-SHA512 digest."""
    unfolded = 2 * spec.bits
    positions = np.empty((len(codes), spec.hashes), dtype=np.int64)
    for i, code in enumerate(codes.tolist()):
        digest = hmac.digest(fkey, int(code).to_bytes(8, "big"), hashlib.sha512)
        positions[i] = np.frombuffer(digest, dtype="<u2", count=spec.hashes)
    positions %= unfolded  # unfolded is a power of two times 64, so this keeps the positions uniform
    bits = np.zeros((len(codes), unfolded), dtype=np.uint8)
    np.put_along_axis(bits, positions, 1, axis=1)
    return np.packbits(bits, axis=1, bitorder="little").view("<u8")


def _distinct(codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """np.unique(codes, return_inverse=True), in linear time for small codes (bigrams, date parts)."""
    if codes.max() >= DENSE_CODES:
        return np.unique(codes, return_inverse=True)
    seen = np.zeros(int(codes.max()) + 1, dtype=bool)
    seen[codes] = True
    distinct = np.flatnonzero(seen)
    index = np.zeros(len(seen), dtype=np.int64)
    index[distinct] = np.arange(len(distinct))
    return distinct.astype(np.uint64), index[codes]


def encode_values(values: pa.Array, spec: FieldSpec, fkey: bytes) -> np.ndarray:
    """Folded filters for ``values`` as an (n, words) uint64 array; rows of null values are all zero.

    Values are taken ``CHUNK_ROWS`` at a time, so the token arrays stay small
    whatever the number of values; each chunk hashes only its distinct tokens.
    """
    n = len(values)
    out = np.zeros((n, spec.words), dtype=np.uint64)
    masks: dict[int, np.ndarray] = {}  # token code -> unfolded mask, shared by the chunks
    for begin in range(0, n, CHUNK_ROWS):
        rows, codes = TOKENISERS[spec.tokens](values.slice(begin, CHUNK_ROWS))
        if len(rows) == 0:
            continue
        distinct, inverse = _distinct(codes)
        new = [int(c) for c in distinct.tolist() if int(c) not in masks]
        if new:
            masks.update(zip(new, token_masks(fkey, np.array(new, dtype=np.uint64), spec)))
        table = np.stack([masks[int(c)] for c in distinct.tolist()])
        firsts = np.flatnonzero(np.r_[True, rows[1:] != rows[:-1]])
        unfolded = np.bitwise_or.reduceat(table[inverse], firsts, axis=0)
        out[begin + rows[firsts]] = unfolded[:, :spec.words] ^ unfolded[:, spec.words:]
    return out


def encode_column(values: pa.Array | pa.ChunkedArray, spec: FieldSpec, fkey: bytes) -> pa.FixedSizeBinaryArray:
    """One field's filters as a fixed-size binary column (null where the value is null or empty).

    Each distinct value is encoded once and the filters are taken back to the rows.
    """
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks() if values.num_chunks else pa.array([], type=values.type)
    width = spec.bits // 8
    if len(values) == 0 or values.null_count == len(values):
        return pa.nulls(len(values), type=pa.binary(width))
    encoded = values if pa.types.is_dictionary(values.type) else pc.dictionary_encode(values)
    dictionary, indices = encoded.dictionary, encoded.indices
    filters = encode_values(dictionary, spec, fkey)
    empty = ~filters.any(axis=1)  # empty strings set no bits: treat as missing
    flat = pa.FixedSizeBinaryArray.from_buffers(
        pa.binary(width), len(dictionary), [None, pa.py_buffer(filters.tobytes())])
    if empty.any():
        flat = pc.if_else(pa.array(empty), pa.nulls(len(dictionary), pa.binary(width)), flat)
    return flat.take(indices)


# --------------------------------------------------------------------------- Dice


def as_words(column: pa.Array | pa.ChunkedArray, words: int) -> tuple[np.ndarray, np.ndarray]:
    """A fixed-size binary column as a word-major (words, n) uint64 array, and its validity (nulls are zeros)."""
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks() if column.num_chunks else pa.nulls(0, pa.binary(words * 8))
    n = len(column)
    valid = column.is_valid().to_numpy(zero_copy_only=False) if column.null_count else np.ones(n, dtype=bool)
    data = column.buffers()[1]
    flat = np.frombuffer(data, dtype="<u8", count=(n + column.offset) * words)[column.offset * words:]
    matrix = flat.reshape(n, words).copy()
    matrix[~valid] = 0
    return np.ascontiguousarray(matrix.T), valid


def popcounts(words: np.ndarray) -> np.ndarray:
    """Set bits per filter of a word-major (words, n) array."""
    total = np.zeros(words.shape[1], dtype=np.uint16)
    for row in words:
        total += np.bitwise_count(row)
    return total


def pair_common_bits(left: np.ndarray, right: np.ndarray, li: np.ndarray, ri: np.ndarray) -> np.ndarray:
    """|A ∩ B| for the filter pairs (left[:, li], right[:, ri]), one word at a time to keep temporaries small."""
    n = len(li)
    common = np.zeros(n, dtype=np.uint16)
    a = np.empty(n, dtype=np.uint64)
    b = np.empty(n, dtype=np.uint64)
    counted = np.empty(n, dtype=np.uint8)
    for w in range(left.shape[0]):
        np.take(left[w], li, out=a)
        np.take(right[w], ri, out=b)
        np.bitwise_and(a, b, out=a)
        np.bitwise_count(a, out=counted)
        common += counted
    return common


def dice(common: np.ndarray, left_count: np.ndarray, right_count: np.ndarray) -> np.ndarray:
    """2|A ∩ B| / (|A| + |B|) as float32; 0 where both filters are empty."""
    total = left_count.astype(np.float32) + right_count.astype(np.float32)
    out = np.zeros(len(common), dtype=np.float32)
    np.divide(2 * common.astype(np.float32), total, out=out, where=total > 0)
    return out


def dice_one_to_many(one: np.ndarray, many: np.ndarray, many_counts: np.ndarray, block: int = 16384) -> np.ndarray:
    """Dice of one filter (``words`` uint64) with every filter of a word-major (words, n) array.

    The all-pairs form (one record against a whole file, as in a lookup); no
    gather, and blocks small enough to stay in cache, so it runs at the speed
    of ``bitwise_count`` itself.
    """
    n = many.shape[1]
    out = np.empty(n, dtype=np.float32)
    one_count = np.float32(sum(int(w).bit_count() for w in one))
    tmp = np.empty(block, dtype=np.uint64)
    counted = np.empty(block, dtype=np.uint8)
    common = np.empty(block, dtype=np.uint16)
    for start in range(0, n, block):
        stop = min(start + block, n)
        size = stop - start
        common[:size] = 0
        for w in range(many.shape[0]):
            np.bitwise_and(many[w, start:stop], one[w], out=tmp[:size])
            np.bitwise_count(tmp[:size], out=counted[:size])
            common[:size] += counted[:size]
        total = many_counts[start:stop].astype(np.float32) + one_count
        np.divide(2 * common[:size].astype(np.float32), total, out=out[start:stop], where=total > 0)
        out[start:stop][total == 0] = 0.0
    return out
