"""Clustering linked records into persons: components, and person keys that survive re-runs."""

from __future__ import annotations

import itertools
import re
from datetime import UTC, datetime

import numpy as np
import pyarrow as pa
import pytest

from accord.errors import InvalidInput
from accord.linkage.clustering import RETIRED, SPLIT, cluster, connected_components

UUID4 = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


def pairs(*links: tuple[str, str, float]) -> pa.Table:
    return pa.table({"left_id": [a for a, _, _ in links], "right_id": [b for _, b, _ in links],
                     "match_probability": [p for _, _, p in links]})


def persons(result) -> dict[str, str]:  # noqa: ANN001
    rows = result.assignments.to_pylist()
    return {row["record_id"]: row["person_key"] for row in rows}


def groups(result) -> set[frozenset[str]]:  # noqa: ANN001
    by_key: dict[str, set[str]] = {}
    for record, key in persons(result).items():
        by_key.setdefault(key, set()).add(record)
    return {frozenset(g) for g in by_key.values()}


# ------------------------------------------------------------------ components


def brute_components(n: int, edges: list[tuple[int, int]]) -> list[int]:
    label = list(range(n))
    changed = True
    while changed:
        changed = False
        for a, b in edges:
            low = min(label[a], label[b])
            if label[a] != low or label[b] != low:
                label[a] = label[b] = low
                changed = True
    return label


@pytest.mark.parametrize("seed", range(5))
def test_components_match_a_brute_force_on_random_graphs(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = 300
    edges = [tuple(e) for e in rng.integers(0, n, size=(rng.integers(50, 400), 2)).tolist()]
    got = connected_components(n, np.array([a for a, _ in edges]), np.array([b for _, b in edges]))
    assert got.tolist() == brute_components(n, edges)


def test_a_long_chain_is_one_component() -> None:
    n = 100_000
    order = np.random.default_rng(1).permutation(n)  # a path through the nodes in random order
    got = connected_components(n, order[:-1], order[1:])
    assert (got == 0).all()


def test_no_edges_leaves_every_node_alone() -> None:
    assert connected_components(4, np.array([], int), np.array([], int)).tolist() == [0, 1, 2, 3]


# ------------------------------------------------------------------ persons


def test_records_linked_above_the_threshold_are_one_person() -> None:
    result = cluster(pairs(("a1", "b1", 0.99), ("b1", "c1", 0.95), ("a2", "b2", 0.4), ("a3", "b3", 0.9)))
    assert groups(result) == {frozenset({"a1", "b1", "c1"}), frozenset({"a2"}), frozenset({"b2"}),
                              frozenset({"a3", "b3"})}
    assert all(UUID4.match(key) for key in persons(result).values())
    assert result.stats["persons"] == 4 and result.stats["new"] == 4 and result.stats["links"] == 3
    assert cluster(pairs(("a2", "b2", 0.4)), threshold=0.3).stats["persons"] == 1


def test_keys_are_random_not_derived_from_identifiers() -> None:
    first = persons(cluster(pairs(("a", "b", 1.0))))
    second = persons(cluster(pairs(("a", "b", 1.0))))
    assert first["a"] == first["b"]
    assert first["a"] != second["a"]  # fresh keys: no function of the ids
    assert UUID4.match(first["a"]) and UUID4.match(second["a"])


def test_partition_is_deterministic_whatever_the_pair_order() -> None:
    links = [("r%d" % i, "r%d" % (i + 1), 1.0) for i in range(0, 40, 3)] + [("x", "y", 0.95)]
    expected = groups(cluster(pairs(*links)))
    for seed in range(3):
        shuffled = list(links)
        np.random.default_rng(seed).shuffle(shuffled)
        assert groups(cluster(pairs(*shuffled))) == expected


def test_sources_keep_equal_ids_of_different_bodies_apart() -> None:
    table = pa.table({"left_id": ["1", "2"], "right_id": ["1", "7"], "match_probability": [1.0, 1.0],
                      "left_source": ["dwp", "dwp"], "right_source": ["hmrc", "hmrc"]})
    result = cluster(table)
    rows = {(r["source"], r["record_id"]): r["person_key"] for r in result.assignments.to_pylist()}
    assert set(rows) == {("dwp", "1"), ("dwp", "2"), ("hmrc", "1"), ("hmrc", "7")}
    assert rows[("dwp", "1")] == rows[("hmrc", "1")] != rows[("dwp", "2")]


def test_several_pair_files_join_through_shared_records() -> None:
    result = cluster([pairs(("d1", "h1", 1.0)), pairs(("d1", "c1", 1.0)), pairs(("c9", "h9", 0.2))])
    assert frozenset({"d1", "h1", "c1"}) in groups(result)
    assert result.stats["records"] == 5


# ------------------------------------------------------------------ stable keys


def test_a_rerun_with_new_records_keeps_every_existing_key() -> None:
    links = [("a%d" % i, "b%d" % i, 0.99) for i in range(50)]
    first = cluster(pairs(*links), now=datetime(2026, 1, 1, tzinfo=UTC))
    more = links + [("a%d" % i, "b%d" % i, 0.99) for i in range(50, 55)] + [("a0", "c0", 0.97)]
    second = cluster(pairs(*more), previous=first.assignments, now=datetime(2026, 2, 1, tzinfo=UTC))
    old, new = persons(first), persons(second)
    assert all(new[record] == key for record, key in old.items())
    assert new["c0"] == new["a0"]  # a new record joins an existing person and takes its key
    fresh = {new["a%d" % i] for i in range(50, 55)}
    assert len(fresh) == 5 and not fresh & set(old.values())
    assert second.stats["kept"] == 50 and second.stats["new"] == 5 and second.changes.num_rows == 0
    created = {r["person_key"]: r["key_created"] for r in second.assignments.to_pylist()}
    assert created[new["a0"]] == "2026-01-01T00:00:00+00:00"
    assert created[new["a50"]] == "2026-02-01T00:00:00+00:00"


def test_an_unchanged_rerun_is_identical() -> None:
    links = [("a1", "b1", 1.0), ("b1", "c1", 1.0), ("a2", "b2", 0.95), ("a3", "b3", 0.2)]
    first = cluster(pairs(*links))
    again = cluster(pairs(*reversed(links)), previous=first.assignments)
    assert again.assignments.equals(first.assignments)
    assert again.stats["new"] == 0 and again.changes.num_rows == 0


def test_a_merge_keeps_the_larger_clusters_key_and_retires_the_other() -> None:
    first = cluster(pairs(("a1", "a2", 1.0), ("a2", "a3", 1.0), ("b1", "b2", 1.0)))
    old = persons(first)
    second = cluster(pairs(("a1", "a2", 1.0), ("a2", "a3", 1.0), ("b1", "b2", 1.0), ("a3", "b1", 0.99)),
                     previous=first.assignments)
    new = persons(second)
    assert len(set(new.values())) == 1
    assert new["b1"] == old["a1"]
    assert second.changes.to_pylist() == [
        {"person_key": old["b1"], "change": RETIRED, "other_key": old["a1"], "records": 2}]
    assert second.stats["retired"] == 1


def test_a_merge_of_equal_clusters_keeps_the_older_key() -> None:
    a = cluster(pairs(("a1", "a2", 1.0)), now=datetime(2025, 1, 1, tzinfo=UTC))
    b = cluster(pairs(("b1", "b2", 1.0)), now=datetime(2024, 1, 1, tzinfo=UTC))  # b's key is older
    previous = pa.concat_tables([a.assignments, b.assignments])
    merged = cluster(pairs(("a1", "a2", 1.0), ("b1", "b2", 1.0), ("a2", "b1", 1.0)), previous=previous)
    assert set(persons(merged).values()) == {persons(b)["b1"]}
    assert merged.changes.column("other_key").to_pylist() == [persons(b)["b1"]]


def test_a_split_keeps_the_key_for_the_part_holding_most_old_records() -> None:
    links = [("a1", "a2", 1.0), ("a2", "a3", 1.0), ("a3", "a4", 1.0), ("a4", "a5", 1.0)]
    first = cluster(pairs(*links))
    key = persons(first)["a1"]
    split = [("a1", "a2", 1.0), ("a2", "a3", 0.1), ("a3", "a4", 1.0), ("a4", "a5", 1.0)]
    second = cluster(pairs(*split), previous=first.assignments)
    new = persons(second)
    assert new["a3"] == new["a4"] == new["a5"] == key  # three of the five old records
    assert new["a1"] == new["a2"] != key
    assert second.changes.to_pylist() == [
        {"person_key": new["a1"], "change": SPLIT, "other_key": key, "records": 2}]


def test_merge_and_split_at_once_each_key_used_once() -> None:
    first = cluster(pairs(*[("a%d" % i, "a%d" % (i + 1), 1.0) for i in range(5)],  # a0..a5: six records
                          ("b0", "b1", 1.0), ("b1", "b2", 1.0)))
    ka, kb = persons(first)["a0"], persons(first)["b0"]
    # a0..a3 stay; a4, a5 join b0..b2
    second = cluster(pairs(*[("a%d" % i, "a%d" % (i + 1), 1.0) for i in range(3)], ("a4", "a5", 1.0),
                           ("a5", "b0", 1.0), ("b0", "b1", 1.0), ("b1", "b2", 1.0)), previous=first.assignments)
    new = persons(second)
    assert {new["a%d" % i] for i in range(4)} == {ka}
    assert {new["a4"], new["a5"], new["b0"], new["b1"], new["b2"]} == {kb}
    assert second.changes.num_rows == 0


def test_records_missing_from_the_rerun_drop_out_and_their_key_is_not_reused() -> None:
    first = cluster(pairs(("a1", "b1", 1.0), ("a2", "b2", 1.0)))
    second = cluster(pairs(("a1", "b1", 1.0)), previous=first.assignments)
    assert set(persons(second)) == {"a1", "b1"}
    assert persons(second)["a1"] == persons(first)["a1"]


def test_previous_with_sources_matches_records_by_source_and_id() -> None:
    table = pa.table({"left_id": ["1"], "right_id": ["1"], "match_probability": [1.0],
                      "left_source": ["dwp"], "right_source": ["hmrc"]})
    first = cluster(table)
    second = cluster(table, previous=first.assignments)
    assert second.assignments.equals(first.assignments)


# ------------------------------------------------------------------ bad input


@pytest.mark.parametrize(("table", "says"), [
    (pa.table({"left_id": ["a"], "right_id": ["b"]}), "match_probability"),
    (pa.table({"left_id": ["a"], "right_id": [None], "match_probability": [1.0]}), "row 1, column right_id"),
    (pa.table({"left_id": ["a", "b"], "right_id": ["b", "c"], "match_probability": [0.5, 1.5]}),
     "row 2, column match_probability"),
    (pa.table({"left_id": ["a"], "right_id": ["b"], "match_probability": ["high"]}), "not numeric"),
])
def test_bad_pairs_are_refused_naming_row_and_column(table: pa.Table, says: str) -> None:
    with pytest.raises(InvalidInput, match=re.escape(says)):
        cluster(table, names=["pairs.csv"])


def test_bad_previous_is_refused() -> None:
    with pytest.raises(InvalidInput, match="person_key"):
        cluster(pairs(("a", "b", 1.0)), previous=pa.table({"record_id": ["a"]}))
    twice = pa.table({"record_id": ["a", "a"], "person_key": ["k1", "k2"]})
    with pytest.raises(InvalidInput, match="more than once"):
        cluster(pairs(("a", "b", 1.0)), previous=twice)


def test_many_records_cluster_quickly_into_the_right_number_of_people() -> None:
    rng = np.random.default_rng(7)
    people = rng.integers(0, 20_000, size=60_000)
    records = [f"r{i}" for i in range(len(people))]
    by_person: dict[int, list[str]] = {}
    for record, person in zip(records, people.tolist()):
        by_person.setdefault(person, []).append(record)
    links = [(a, b, 0.99) for group in by_person.values() for a, b in itertools.pairwise(group)]
    result = cluster(pairs(*links))
    linked = {r for group in by_person.values() if len(group) > 1 for r in group}
    assert result.stats["persons"] == sum(1 for g in by_person.values() if len(g) > 1)
    assert result.stats["records"] == len(linked)
