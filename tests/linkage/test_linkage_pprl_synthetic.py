"""PPRL on synthetic bodies: F1 against plaintext linkage, keys that do not link, what the hub gets back."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from pprl_support import SECRET, View, encode_both, link_plaintext, read_view, score, true_pairs

from accord.linkage import pprl
from accord.synth import generate

PAIRS = [("dwp-benefits", "hmrc-paye"), ("dvla-drivers", "hmrc-paye")]


@pytest.fixture(scope="module")
def synth(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("pprl") / "synth"
    generate(persons=3000, seed=5, out=out, bodies="dwp,hmrc,dvla", workers=1)
    return out


@pytest.fixture(scope="module")
def views(synth: Path) -> dict[str, View]:
    return {name: read_view(synth, name) for name in ("dwp-benefits", "hmrc-paye", "dvla-drivers")}


@pytest.mark.parametrize(("left", "right"), PAIRS, ids=lambda name: name.split("-")[0])
def test_pprl_f1_is_within_001_of_plaintext(views: dict[str, View], left: str, right: str) -> None:
    """Plaintext = the hub's same pipeline on exact token sets of the unencoded fields (pprl_support)."""
    truth = true_pairs(views[left], views[right])
    encoded = pprl.link_encoded(*encode_both(views[left].std, views[right].std))
    plain = link_plaintext(views[left].std, views[right].std)
    got, baseline = score(encoded, truth), score(plain, truth)
    print(f"\n{left} x {right}: pprl {got}\n{' ' * len(left + right)}    plaintext {baseline}")
    assert len(truth) >= 150  # enough true pairs for F1 to mean something
    assert got.f1 >= 0.97
    assert abs(got.f1 - baseline.f1) <= 0.01


def test_pprl_f1_is_within_001_of_splink(synth: Path, views: dict[str, View], tmp_path: Path) -> None:
    """The same pair linked in clear by accord.linkage.probabilistic (Splink, with term frequencies)."""
    from accord.linkage import probabilistic as prob

    left, right = views["dvla-drivers"], views["hmrc-paye"]
    truth = true_pairs(left, right)
    model = prob.train(left.std, right.std)
    prob.predict(left.std, right.std, model, tmp_path / "splink.parquet")
    splink = score(pa.parquet.read_table(tmp_path / "splink.parquet"), truth)
    got = score(pprl.link_encoded(*encode_both(left.std, right.std)), truth)
    print(f"\ndvla x hmrc: pprl {got}\n            splink {splink}")
    assert got.f1 >= splink.f1 - 0.01


def test_encodings_for_other_agreements_or_key_versions_do_not_link(views: dict[str, View]) -> None:
    """The same records under another key are no more alike than strangers under one key."""
    table = views["dwp-benefits"].std
    same = pprl.encode_table(table, pprl.derive_agreement_key(SECRET, "agr-a"))
    fields = [s for s in pprl.bloom.FIELD_SPECS if same.column(f"bf_{s.name}").null_count < same.num_rows]
    names = [s.name for s in fields]
    rows = np.arange(same.num_rows)
    strangers = np.random.default_rng(1).permutation(rows)  # random pairs: file order keeps neighbours together
    base = pprl.Filters.from_table(same, fields)
    for other_key in (pprl.derive_agreement_key(SECRET, "agr-b"), pprl.derive_agreement_key(SECRET, "agr-a", 2)):
        other = pprl.Filters.from_table(pprl.encode_table(table, other_key), fields)
        for name in names:
            self_dice, both = pprl.field_dice(base, base, name, rows, rows)
            cross_dice, _ = pprl.field_dice(base, other, name, rows, rows)
            chance, present = pprl.field_dice(base, base, name, rows, strangers)
            assert self_dice[both].min() == 1.0
            # no better than chance: no excess over strangers' Dice under one key (strangers share common
            # bigrams such as a postcode's space, so under one key they are, if anything, a little closer)
            assert cross_dice[both].mean() <= chance[present & (rows != strangers)].mean() + 0.02, name
            assert cross_dice[both].max() < 0.9, name
        links = pprl.link_filters(base, other, names)
        assert links.num_rows <= 0.01 * same.num_rows


def test_what_the_hub_gets_back(views: dict[str, View]) -> None:
    left, right = views["dwp-benefits"], views["hmrc-paye"]
    result = pprl.link_encoded(*encode_both(left.std, right.std), threshold=0.9)
    assert result.column_names[:5] == ["left_id", "right_id", "match_probability", "match_weight", "dice"]
    assert {"dice_first_name", "dice_surname", "dice_dob", "dice_nino", "dice_postcode"} <= set(result.column_names)
    assert pc.min(result.column("match_probability")).as_py() >= 0.9
    assert set(result.column("left_id").to_pylist()) <= set(left.std.column("id").to_pylist())
    assert set(result.column("right_id").to_pylist()) <= set(right.std.column("id").to_pylist())
    pairs = list(zip(result.column("left_id").to_pylist(), result.column("right_id").to_pylist()))
    assert len(set(pairs)) == len(pairs)
    probability = np.array(result.column("match_probability").to_pylist())
    weight = np.array(result.column("match_weight").to_pylist())
    assert probability == pytest.approx(1 / (1 + 2.0 ** -weight))
    # each field's part of the weight adds up to it (prior + log2(m/u) per compared field)
    parts = [name for name in result.column_names if name.startswith("mw_")]
    assert "mw_prior" in parts and {"mw_first_name", "mw_dob", "mw_nino"} <= set(parts)
    total = sum(np.array(result.column(name).to_pylist()) for name in parts)
    assert total == pytest.approx(weight, abs=1e-9)
    model = __import__("json").loads(result.schema.metadata[pprl.MODEL_METADATA_KEY])
    assert model["candidates"] >= result.num_rows and 0 < model["model"]["prior"] < 1e-2
    # a lower threshold keeps every pair the higher one kept
    wider = pprl.link_encoded(*encode_both(left.std, right.std), threshold=0.1)
    assert set(pairs) <= set(zip(wider.column("left_id").to_pylist(), wider.column("right_id").to_pylist()))


def test_linking_the_same_encodings_twice_gives_the_same_result(views: dict[str, View]) -> None:
    """DuckDB returns candidates in any order and samples are seeded: the result does not vary."""
    encoded = encode_both(views["dvla-drivers"].std, views["hmrc-paye"].std)
    first, second = pprl.link_encoded(*encoded), pprl.link_encoded(*encoded)
    assert first.equals(second) and first.schema.metadata == second.schema.metadata
