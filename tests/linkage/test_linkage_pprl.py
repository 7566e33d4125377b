"""Bloom-filter encoding and Dice: keys, determinism, hand-made bit patterns, refusals of mismatched encodings."""

from __future__ import annotations

import json
import random
from datetime import date
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pprl_support import SECRET

from accord.errors import InvalidInput
from accord.linkage import bloom, pprl
from accord.linkage.standardise import standardise_table

PEOPLE = [
    {"record_id": "a1", "first_name": "William", "surname": "Smith", "dob": "1961-03-12", "postcode": "SW1A 1AA",
     "nino": "AB123456C", "address": "12 High Street"},
    {"record_id": "a2", "first_name": "Bill", "surname": "Smyth", "dob": "1961-12-03", "postcode": "SW1A1AA",
     "nino": None, "address": "12 High St"},
    {"record_id": "a3", "first_name": "Margaret", "surname": "Thompson", "dob": "1948-07-30", "postcode": "LS1 4AP",
     "nino": "CE654321A", "address": "Flat 2, 7 Park Road"},
    {"record_id": "a4", "first_name": "", "surname": None, "dob": None, "postcode": None, "nino": None,
     "address": None},
]


def std(rows: list[dict] = PEOPLE) -> pa.Table:
    return standardise_table(rows, id_column="record_id").table


def key(agreement: str = "agr-1", version: int = 1, secret: bytes = SECRET) -> bytes:
    return pprl.derive_agreement_key(secret, agreement, version)


def words(table: pa.Table, field: str) -> tuple[np.ndarray, np.ndarray]:
    spec = next(s for s in bloom.FIELD_SPECS if s.name == field)
    return bloom.as_words(table.column(pprl.filter_column(field)), spec.words)


def field_dice(table_a: pa.Table, row_a: int, table_b: pa.Table, row_b: int, field: str) -> float:
    (wa, _), (wb, _) = words(table_a, field), words(table_b, field)
    common = bloom.pair_common_bits(wa, wb, np.array([row_a]), np.array([row_b]))
    return float(bloom.dice(common, bloom.popcounts(wa)[[row_a]], bloom.popcounts(wb)[[row_b]])[0])


# --------------------------------------------------------------------------- keys


def test_keys_are_scoped_to_agreement_version_and_secret() -> None:
    k = key()
    assert len(k) == 32 and k == key()
    others = {key("agr-2"), key(version=2), key(secret=SECRET + b"!")}
    assert k not in others and len(others) == 3
    assert k.agreement_id == "agr-1" and k.version == 1
    assert k.hex() not in repr(k) and "agr-1" in repr(k)
    assert pprl.key_fingerprint(k) != pprl.key_fingerprint(key("agr-2"))


@pytest.mark.parametrize(("secret", "agreement", "version"), [
    (b"too short", "agr-1", 1), (SECRET, "", 1), (SECRET, "agr-1", 0), ("text, not bytes" * 4, "agr-1", 1),
])
def test_bad_key_material_is_refused(secret, agreement, version) -> None:  # noqa: ANN001
    with pytest.raises(InvalidInput):
        pprl.derive_agreement_key(secret, agreement, version)


# --------------------------------------------------------------------------- Dice on hand-made bit patterns


def _pattern(*bits: int, width: int = 128) -> bytes:
    number = sum(1 << b for b in bits)
    return number.to_bytes(width // 8, "little")


def test_dice_on_hand_made_bit_patterns() -> None:
    patterns = {
        "low4": _pattern(0, 1, 2, 3),
        "mid4": _pattern(2, 3, 4, 5),  # shares bits 2 and 3 with low4
        "edges": _pattern(63, 64, 127),  # across the word boundary
        "full": _pattern(*range(128)),
        "empty": _pattern(),
    }
    names = list(patterns)
    column = pa.array(list(patterns.values()), type=pa.binary(16))
    matrix, valid = bloom.as_words(column, 2)
    assert matrix.shape == (2, 5) and valid.all()
    assert bloom.popcounts(matrix).tolist() == [4, 4, 3, 128, 0]
    expected = {
        ("low4", "low4"): 1.0,
        ("low4", "mid4"): 2 * 2 / (4 + 4),
        ("low4", "empty"): 0.0,
        ("empty", "empty"): 0.0,
        ("edges", "full"): 2 * 3 / (3 + 128),
        ("low4", "edges"): 0.0,
        ("mid4", "full"): 2 * 4 / (4 + 128),
    }
    li = np.array([names.index(a) for a, _ in expected])
    ri = np.array([names.index(b) for _, b in expected])
    counts = bloom.popcounts(matrix)
    got = bloom.dice(bloom.pair_common_bits(matrix, matrix, li, ri), counts[li], counts[ri])
    assert got.tolist() == pytest.approx(list(expected.values()), abs=1e-6)


def test_dice_matches_a_python_bit_count_reference() -> None:
    rng = random.Random(7)
    width = 256
    values = [rng.getrandbits(width) for _ in range(200)]
    column = pa.array([v.to_bytes(width // 8, "little") for v in values], type=pa.binary(width // 8))
    matrix, _ = bloom.as_words(column, width // 64)
    li = np.array([rng.randrange(200) for _ in range(1000)])
    ri = np.array([rng.randrange(200) for _ in range(1000)])
    counts = bloom.popcounts(matrix)
    got = bloom.dice(bloom.pair_common_bits(matrix, matrix, li, ri), counts[li], counts[ri])
    reference = [2 * (values[a] & values[b]).bit_count() / (values[a].bit_count() + values[b].bit_count())
                 for a, b in zip(li, ri)]
    assert got.tolist() == pytest.approx(reference, abs=1e-6)


def test_a_sliced_column_is_read_at_its_offset() -> None:
    column = pa.array([_pattern(1), _pattern(2, 3), None, _pattern(4, 5, 6)], type=pa.binary(16)).slice(1)
    matrix, valid = bloom.as_words(column, 2)
    assert valid.tolist() == [True, False, True]
    assert bloom.popcounts(matrix).tolist() == [2, 0, 3]


# --------------------------------------------------------------------------- encoding


def test_the_same_input_and_key_give_identical_encodings(tmp_path: Path) -> None:
    first, second = pprl.encode_table(std(), key()), pprl.encode_table(std(), key())
    assert first.equals(second) and first.schema.metadata == second.schema.metadata
    pq.write_table(first, tmp_path / "a.parquet")
    pq.write_table(second, tmp_path / "b.parquet")
    assert (tmp_path / "a.parquet").read_bytes() == (tmp_path / "b.parquet").read_bytes()


def test_a_record_encodes_the_same_whatever_else_is_in_the_table(monkeypatch: pytest.MonkeyPatch) -> None:
    whole = pprl.encode_table(std(), key())
    alone = pprl.encode_table(std(PEOPLE[2:3]), key())
    reversed_ = pprl.encode_table(std(PEOPLE[::-1]), key())
    monkeypatch.setattr(bloom, "CHUNK_ROWS", 1)  # many small chunks
    chunked = pprl.encode_table(std(), key())
    assert chunked.equals(whole)
    for spec in bloom.FIELD_SPECS:
        name = pprl.filter_column(spec.name)
        assert alone.column(name)[0] == whole.column(name)[2]
        assert reversed_.column(name).to_pylist()[::-1] == whole.column(name).to_pylist()


def test_encoding_layout_nulls_and_metadata() -> None:
    encoded = pprl.encode_table(std(), key("agr-7", 3))
    assert encoded.column_names == ["id"] + [f"bf_{s.name}" for s in bloom.FIELD_SPECS]
    assert encoded.column("id").to_pylist() == ["a1", "a2", "a3", "a4"]
    for spec in bloom.FIELD_SPECS:
        assert encoded.schema.field(f"bf_{spec.name}").type == pa.binary(spec.bits // 8)
    # empty or missing values give null filters, never an all-zero or a padding-only filter
    assert encoded.column("bf_first_name")[3].as_py() is None
    assert encoded.column("bf_nino").to_pylist()[1] is None
    assert "bf_sex" not in encoded.column_names  # sex is not encoded
    assert encoded.column("bf_uprn").null_count == 4  # no such column in the input
    params = json.loads(encoded.schema.metadata[pprl.METADATA_KEY])
    assert params["agreement_id"] == "agr-7" and params["key_version"] == 3
    assert params["key_fingerprint"] == pprl.key_fingerprint(key("agr-7", 3))
    assert [f["name"] for f in params["fields"]] == [s.name for s in bloom.FIELD_SPECS]
    assert pprl.is_encoded(encoded.schema) and not pprl.is_encoded(std().schema)
    assert SECRET.hex() not in encoded.schema.metadata[pprl.METADATA_KEY].decode()


def test_folded_filters_are_neither_empty_nor_full() -> None:
    encoded = pprl.encode_table(std(), key())
    matrix, valid = words(encoded, "address")
    fill = bloom.popcounts(matrix)[valid] / 256
    assert ((fill > 0.1) & (fill < 0.6)).all()


def test_similar_values_have_similar_filters() -> None:
    encoded = pprl.encode_table(std(), key())
    assert field_dice(encoded, 0, encoded, 1, "first_name") == 1.0  # Bill is encoded as William
    assert field_dice(encoded, 0, encoded, 1, "postcode") == 1.0  # SW1A1AA standardised to SW1A 1AA
    smith_smyth = field_dice(encoded, 0, encoded, 1, "surname")
    smith_thompson = field_dice(encoded, 0, encoded, 2, "surname")
    assert 0.5 < smith_smyth < 1.0 and smith_thompson < smith_smyth
    swapped = field_dice(encoded, 0, encoded, 1, "dob")  # 12/03 and 03/12 share the year and the day/month pair
    assert field_dice(encoded, 0, encoded, 2, "dob") < swapped < 1.0


def test_dates_must_be_standardised_first_and_ids_present() -> None:
    with pytest.raises(InvalidInput, match="dob"):
        pprl.encode_table(pa.table({"id": ["1"], "dob": ["1961-03-12"]}), key())
    with pytest.raises(InvalidInput, match="'id'"):
        pprl.encode_table(pa.table({"surname": ["smith"]}), key())
    with pytest.raises(InvalidInput, match="'id'"):
        pprl.encode_table(pa.table({"id": ["1", None], "surname": ["smith", "jones"]}), key())
    with pytest.raises(InvalidInput, match="at least 32 bytes"):
        pprl.encode_table(std(), b"short key")


def test_dates_as_timestamps_encode_like_dates() -> None:
    as_dates = pprl.encode_table(pa.table({"id": ["1"], "dob": pa.array([date(1961, 3, 12)])}), key())
    as_stamps = pprl.encode_table(pa.table({"id": ["1"], "dob": pa.array([date(1961, 3, 12)]).cast(
        pa.timestamp("s"))}), key())
    assert as_dates.column("bf_dob").equals(as_stamps.column("bf_dob"))


# --------------------------------------------------------------------------- refusals


def _with_params(table: pa.Table, **changes) -> pa.Table:  # noqa: ANN003
    params = json.loads(table.schema.metadata[pprl.METADATA_KEY])
    params.update(changes)
    return table.replace_schema_metadata({pprl.METADATA_KEY: json.dumps(params).encode()})


@pytest.mark.parametrize(("right_key", "message"), [
    (lambda: key("agr-2"), "different agreements"),
    (lambda: key(version=2), "key version"),
    (lambda: key(secret=SECRET[::-1]), "different secrets"),
])
def test_encodings_under_different_keys_are_refused(right_key, message) -> None:  # noqa: ANN001
    left = pprl.encode_table(std(), key())
    right = pprl.encode_table(std(), right_key())
    with pytest.raises(InvalidInput, match=message):
        pprl.link_encoded(left, right)


def test_mismatched_parameters_are_refused() -> None:
    left = pprl.encode_table(std(), key())
    fields = json.loads(left.schema.metadata[pprl.METADATA_KEY])["fields"]
    fields[0]["hashes"] = 12
    with pytest.raises(InvalidInput, match="different Bloom-filter parameters"):
        pprl.link_encoded(left, _with_params(left, fields=fields))
    with pytest.raises(InvalidInput, match="format"):
        pprl.link_encoded(left, _with_params(left, format_version=99))
    with pytest.raises(InvalidInput, match="unreadable"):
        pprl.link_encoded(left, left.replace_schema_metadata({pprl.METADATA_KEY: b"{not json"}))
    with pytest.raises(InvalidInput, match="right: not a Bloom-filter encoding"):
        pprl.link_encoded(left, std())
    narrow = left.set_column(1, "bf_first_name", pa.nulls(left.num_rows, pa.binary(8))).replace_schema_metadata(
        left.schema.metadata)
    with pytest.raises(InvalidInput, match="bf_first_name"):
        pprl.link_encoded(narrow, left)
    with pytest.raises(InvalidInput, match="threshold"):
        pprl.link_encoded(left, left, threshold=1.5)


def test_an_empty_side_links_nothing() -> None:
    left = pprl.encode_table(std(), key())
    empty = pprl.encode_table(std().slice(0, 0), key())
    result = pprl.link_encoded(left, empty)
    assert result.num_rows == 0
    assert result.column_names[:3] == ["left_id", "right_id", "match_probability"]


# --------------------------------------------------------------------------- files


@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
def test_encodings_round_trip_through_files(tmp_path: Path, suffix: str) -> None:
    encoded = pprl.encode_table(std(), key())
    path = tmp_path / f"enc{suffix}"
    pprl.write_encoded(encoded, path)
    back = pprl.read_encoded(path)
    assert back.equals(encoded) and back.schema.metadata == encoded.schema.metadata
    assert sorted(p.name for p in tmp_path.iterdir()) == (
        ["enc.csv", "enc.csv.pprl.json"] if suffix == ".csv" else ["enc.parquet"])


def test_a_csv_encoding_without_its_parameters_or_with_bad_filters_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "enc.csv"
    pprl.write_encoded(pprl.encode_table(std(), key()), path)
    text = path.read_text()
    path.write_text(text.replace(text.splitlines()[1].split(",")[1], '"zz"', 1))
    with pytest.raises(InvalidInput, match="hexadecimal"):
        pprl.read_encoded(path)
    pprl.sidecar_path(path).unlink()
    with pytest.raises(InvalidInput, match="parameters file"):
        pprl.read_encoded(path)


def test_one_to_many_dice_matches_the_pair_kernel() -> None:
    rng = np.random.default_rng(3)
    many = rng.integers(0, 2**63, size=(4, 20_000), dtype=np.int64).view(np.uint64)
    many[:, 5] = 0  # an empty filter
    counts = bloom.popcounts(many)
    for i in (0, 5, 17):
        got = bloom.dice_one_to_many(many[:, i].copy(), many, counts, block=4096)
        pairs = bloom.dice(bloom.pair_common_bits(many, many, np.full(20_000, i), np.arange(20_000)),
                           counts[np.full(20_000, i)], counts)
        assert np.allclose(got, pairs, atol=1e-6)
        assert got[i] == (0.0 if i == 5 else 1.0)
