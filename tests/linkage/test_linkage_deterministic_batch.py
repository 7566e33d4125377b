"""The batch cascade (DuckDB joins) grades exactly as the per-record cascade does."""

from __future__ import annotations

import random
from collections import Counter
from datetime import date, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from linkage_support import applicant, record

from accord.errors import InvalidInput
from accord.linkage import standardise_table
from accord.linkage.deterministic import (
    AMBIGUOUS_RULE, LINK_SCHEMA, MATCH, MATCH_PROBABILITY, NO_MATCH, PARTIAL, PARTIAL_PROBABILITY, RULES,
    grade, link_tables, verify, verify_all, verify_all_python,
)
from accord.linkage.standardise import NICKNAMES, STANDARD_FIELDS
from accord.synth import generate

MAPPING = {"dob": "date_of_birth", "address": "address_line_1"}


def _table(rows: list[dict]) -> pa.Table:
    """Standardised records as a table with every standard field (nulls where a record lacks one)."""
    types = {name: pa.date32() if name == "dob" else pa.string() for name in STANDARD_FIELDS}
    columns = {"id": pa.array([r["id"] for r in rows], pa.string())}
    for name, kind in types.items():
        columns[name] = pa.array([r.get(name) for r in rows], kind)
    return pa.table(columns)


# ------------------------------------------------------------------ constructed cases


def test_link_tables_gives_one_row_per_linked_left_record_with_probabilities() -> None:
    source = [record("d1", first_name="Margaret", surname="Thompson", dob="1961-03-12", postcode="SW1A 1AA",
                     nino="AB123456C"),
              record("d2", first_name="Brian", surname="Hughes", dob="1990-01-01", postcode="M1 1AE")]
    applicants = [applicant(),  # id "app": nino+surname
                  record("a2", first_name="Brian", surname="Hughes", dob="1990-01-01"),  # dob+names
                  record("a3", first_name="Derek", surname="Thompson", dob="1958-07-01", postcode="SW1A 1AA"),
                  record("a4", first_name="Brian", surname="Hughes", dob="1990-01-10", postcode="M1 1AE",
                         nino="CE654321A")]  # names + postcode, dob conflicts: partial
    out = link_tables(_table(applicants), _table(source))
    assert out.schema == LINK_SCHEMA
    rows = out.to_pylist()
    assert rows == [
        {"left_id": "app", "right_id": "d1", "match_probability": MATCH_PROBABILITY, "grade": MATCH,
         "rule": "nino+surname", "agreed": ["nino", "first_name", "surname", "dob", "postcode"]},
        {"left_id": "a2", "right_id": "d2", "match_probability": MATCH_PROBABILITY, "grade": MATCH,
         "rule": "dob+names", "agreed": ["first_name", "surname", "dob"]},
        {"left_id": "a4", "right_id": "d2", "match_probability": PARTIAL_PROBABILITY, "grade": PARTIAL,
         "rule": "some-identifiers", "agreed": ["first_name", "surname", "postcode"]},
    ]  # a3, another member of the household, is no match and has no row


def test_ambiguous_match_is_a_partial_pair_for_review() -> None:
    source = [record("a", first_name="Margaret", surname="Thompson", dob="1961-03-12", postcode="SW1A 1AA",
                     nino="CE654321A"),
              record("b", first_name="Margaret", surname="Thompson", dob="1961-03-12", postcode="SW1A 1AA",
                     nino="JG103759A")]
    left = _table([applicant(nino=None)])
    (row,) = link_tables(left, _table(source)).to_pylist()
    assert (row["grade"], row["rule"], row["match_probability"]) == (PARTIAL, AMBIGUOUS_RULE, PARTIAL_PROBABILITY)
    assert row["right_id"] == "a"  # the first of the equally good candidates
    (checked,) = verify_all(left, _table(source)).to_pylist()
    assert (checked["grade"], checked["rule"], checked["candidate_id"]) == (PARTIAL, AMBIGUOUS_RULE, None)


def test_nino_one_typo_apart_is_one_person_not_ambiguous() -> None:
    source = [{**applicant(), "id": "pension"}, {**applicant(), "id": "pip", "nino": "AB123465C"}]
    out = link_tables(_table([applicant()]), _table(source)).to_pylist()
    assert [(r["grade"], r["rule"], r["right_id"]) for r in out] == [(MATCH, "nino+surname", "pension")]


def test_verify_all_accepts_records_with_different_fields_and_numeric_ids() -> None:
    source = [{**record("x", first_name="Margaret", surname="Thompson", dob="1961-03-12"), "id": 7}]
    applicants = [record("n1", surname="Thompson", dob="1961-03-12", first_name="Peggy"),
                  {**record("n2", postcode="SW1A 1AA"), "id": 8}]
    rows = verify_all(applicants, source).to_pylist()
    assert [(r["applicant_id"], r["grade"], r["rule"], r["candidate_id"]) for r in rows] == [
        ("n1", MATCH, "dob+names", "7"), ("8", NO_MATCH, None, None)]
    assert rows == verify_all_python(applicants, source).to_pylist()


def test_empty_source_gives_no_links_and_no_match_for_everyone() -> None:
    empty = _table([])
    assert link_tables(_table([applicant()]), empty).num_rows == 0
    assert link_tables(empty, _table([applicant()])).num_rows == 0
    (row,) = verify_all(_table([applicant()]), empty).to_pylist()
    assert (row["grade"], row["candidates"], row["candidate_id"]) == (NO_MATCH, 0, None)


def test_columns_not_present_are_treated_as_missing() -> None:
    left = pa.table({"id": ["l"], "surname": ["thompson"], "nino": ["AB123456C"]})
    right = pa.table({"id": ["r"], "nino": ["AB123456C"], "surname": ["thompson"], "first_name": ["margaret"]})
    (row,) = link_tables(left, right).to_pylist()
    assert (row["rule"], row["agreed"]) == ("nino+surname", ["nino", "surname"])


def test_unknown_blocking_key_or_unstandardised_dates_are_refused() -> None:
    table = _table([applicant()])
    with pytest.raises(InvalidInput, match="blocking keys"):
        link_tables(table, table, keys=("shoe_size",))
    raw = pa.table({"id": ["a"], "dob": ["12 March 1961"]})
    with pytest.raises(InvalidInput, match="dob"):
        link_tables(raw, table)


# ------------------------------------------------------------------ agreement on varied data


def _typo(rng: random.Random, text: str) -> str:
    i = rng.randrange(len(text))
    if rng.random() < 0.5 and i + 1 < len(text):
        return text[:i] + text[i + 1] + text[i] + text[i + 2:]
    return text[:i] + rng.choice("aeiourstn") + text[i + 1:]


def _nino_typo(rng: random.Random, nino: str) -> str:
    i = rng.randrange(2, 8)
    return nino[:i] + str((int(nino[i]) + 1) % 10) + nino[i + 1:]


def _variant(rng: random.Random, base: dict, id: str, pool: list[dict]) -> dict:
    """A noisy copy of a record: the kinds of difference the cascade's rules are about."""
    out = dict(base, id=id)
    for name in ("nino", "postcode"):  # often missing from one body's records
        if rng.random() < 0.25:
            out[name] = None
    for _ in range(rng.randrange(0, 4)):
        kind = rng.randrange(11)
        if kind == 0 and out.get("first_name"):
            head = out["first_name"].split()[0]
            nicks = NICKNAMES.get(head)
            out["first_name"] = rng.choice(nicks) if nicks else _typo(rng, head)
        elif kind == 1 and out.get("surname"):
            out["surname"] = _typo(rng, out["surname"])
        elif kind == 2 and out.get("dob"):
            d = out["dob"]
            out["dob"] = date(d.year, d.day, d.month) if d.day <= 12 else d + timedelta(days=rng.randrange(1, 400))
        elif kind == 3 and out.get("nino"):
            out["nino"] = _nino_typo(rng, out["nino"])
        elif kind == 4:
            out[rng.choice(["nino", "postcode", "dob", "first_name", "surname", "middle_name"])] = None
        elif kind == 5:  # someone else in the household: another given name and date of birth
            other = rng.choice(pool)
            out.update(first_name=other.get("first_name"), dob=other.get("dob"), nino=None)
        elif kind == 6 and out.get("surname"):
            out["surname"] = out["surname"] + " " + rng.choice(["jones", "smith"])
        elif kind == 7:  # moved house
            out["postcode"] = rng.choice(pool).get("postcode")
        elif kind == 8 and out.get("middle_name"):
            out["middle_name"] = out["middle_name"][0]
        elif kind == 9:  # a change of surname (marriage)
            out["surname"] = rng.choice(pool).get("surname")
        elif kind == 10:  # someone else's NINO
            out["nino"] = rng.choice(pool).get("nino")
    return out


@pytest.fixture(scope="module")
def varied() -> tuple[pa.Table, pa.Table]:
    """Left and right tables of noisy copies of a few hundred people, with household look-alikes."""
    rng = random.Random(20260501)
    firsts = ["william", "margaret", "robert", "elizabeth", "john", "mary ann", "mohammed", "priya", "sean", "ava"]
    surnames = ["thompson", "smith", "smith jones", "obrien", "mcdonald", "patel", "nowak", "evans", "khan"]
    postcodes = ["SW1A 1AA", "M1 1AE", "B33 8TH", "CR2 6XH", "LS1 4AP", "EH1 1YZ"]
    people = []
    for i in range(400):
        people.append({
            "first_name": rng.choice(firsts), "middle_name": rng.choice([None, "james", "anne", "j"]),
            "surname": rng.choice(surnames), "dob": date(1940, 1, 1) + timedelta(days=rng.randrange(25000)),
            "postcode": rng.choice(postcodes), "nino": f"AB{rng.randrange(10**6):06d}{'ABCD'[i % 4]}",
            "uprn": rng.choice([None, str(rng.randrange(1, 10**6))]),
        })
    left, right = [], []
    for i, person in enumerate(people):
        for j in range(rng.randrange(0, 3)):
            left.append(_variant(rng, person, f"L{i}-{j}", people))
        for j in range(rng.randrange(0, 3)):
            right.append(_variant(rng, person, f"R{i}-{j}", people))
    rng.shuffle(right)
    return _table(left), _table(right)


def test_batch_and_per_record_results_agree_on_varied_records(varied) -> None:  # noqa: ANN001
    left, right = varied
    batch = verify_all(left, right).to_pylist()
    reference = verify_all_python(left, right).to_pylist()
    assert batch == reference
    rules = Counter(r["rule"] for r in batch)
    # the data exercises every rule, partials, ambiguity and no match
    assert set(RULES) <= set(rules), rules
    assert rules["some-identifiers"] and rules[AMBIGUOUS_RULE] and rules[None], rules


def test_link_tables_pairs_grade_as_grade_does(varied) -> None:  # noqa: ANN001
    left, right = varied
    lefts = {r["id"]: r for r in left.to_pylist()}
    rights = {r["id"]: r for r in right.to_pylist()}
    links = link_tables(left, right).to_pylist()
    assert links
    for link in links:
        v = grade(lefts[link["left_id"]], rights[link["right_id"]])
        if link["rule"] == AMBIGUOUS_RULE:
            assert v.grade == MATCH  # the best of several matching people
            continue
        assert (link["grade"], link["rule"], tuple(link["agreed"])) == (v.grade, v.rule, v.agreed)
        assert link["match_probability"] == (MATCH_PROBABILITY if v.grade == MATCH else PARTIAL_PROBABILITY)
    # and every left record without a link is "no match" per record
    linked = {link["left_id"] for link in links}
    per_record = {r["applicant_id"]: r for r in verify_all_python(left, right).to_pylist()}
    assert all(per_record[i]["grade"] == NO_MATCH for i in lefts if i not in linked)
    assert all(per_record[i]["grade"] != NO_MATCH for i in linked)


def test_left_order_is_kept(varied) -> None:  # noqa: ANN001
    left, right = varied
    links = link_tables(left, right)
    order = {id: i for i, id in enumerate(left.column("id").to_pylist())}
    positions = [order[i] for i in links.column("left_id").to_pylist()]
    assert positions == sorted(positions)


# ------------------------------------------------------------------ synthetic bodies


@pytest.fixture(scope="module")
def synth(tmp_path_factory) -> Path:  # noqa: ANN001
    out = tmp_path_factory.mktemp("linkage-batch") / "synth"
    generate(persons=4000, seed=11, out=out, bodies="dwp,hmrc,dvla,electoral", workers=1)
    return out


@pytest.mark.parametrize(("left", "right"), [
    ("hmrc-paye", "dwp-benefits"), ("dvla-drivers", "hmrc-paye"), ("*-registration-applications", "dwp-benefits"),
])
def test_batch_agrees_with_per_record_on_synthetic_bodies(synth: Path, left: str, right: str) -> None:
    def std(pattern: str) -> pa.Table:
        table = pa.concat_tables([pq.read_table(p) for p in sorted(synth.glob(f"{pattern}.parquet"))])
        return standardise_table(table, {k: v for k, v in MAPPING.items() if v in table.column_names}).table

    lt, rt = std(left), std(right)
    batch = verify_all(lt, rt)
    assert batch.to_pylist() == verify_all_python(lt, rt).to_pylist()
    assert Counter(batch.column("grade").to_pylist())[MATCH] > 0.1 * lt.num_rows
    first = lt.slice(0, 1).to_pylist()[0]
    v = verify(first, rt.to_pylist())
    row = batch.slice(0, 1).to_pylist()[0]
    assert (row["grade"], row["rule"]) == (v.grade, v.rule)


def test_the_letters_test_never_rules_out_a_similar_pair() -> None:
    """Names the letters test sets aside are never similar enough (docs/linkage-evaluation.md)."""
    import numpy as np

    from accord.linkage.deterministic import NAME_THRESHOLD, _letters_word, _maybe_similar
    from accord.linkage.similarity import jaro_winkler

    rng = random.Random(404)
    alphabet = "abcdefghijklmnopqrstuvwxyz"
    pairs = []
    while len(pairs) < 100_000:
        a = "".join(rng.choice(alphabet[:rng.randint(2, 26)]) for _ in range(rng.randint(1, 14)))
        b = list(a)
        for _ in range(rng.randint(0, 4)):  # typos: change, insert, delete, transpose
            op, i = rng.randrange(4), rng.randrange(max(1, len(b)))
            if op == 0 and b:
                b[i] = rng.choice(alphabet)
            elif op == 1:
                b.insert(i, rng.choice(alphabet))
            elif op == 2 and len(b) > 1:
                del b[i]
            elif op == 3 and i + 1 < len(b):
                b[i], b[i + 1] = b[i + 1], b[i]
        if b:
            pairs.append((a, "".join(b)))
    words_a = np.array([_letters_word(a) for a, _ in pairs], dtype=np.uint32)
    words_b = np.array([_letters_word(b) for _, b in pairs], dtype=np.uint32)
    maybe = _maybe_similar(words_a, words_b)
    similar = np.array([jaro_winkler(a, b) >= NAME_THRESHOLD for a, b in pairs])
    assert not (similar & ~maybe).any()
    assert (~maybe).sum() > 0.1 * len(pairs)  # and it does set pairs aside
