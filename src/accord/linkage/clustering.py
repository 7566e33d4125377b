"""Clustering linked records into persons, with person keys that stay put from one run to the next.

Records are the ids in one or more files of linked pairs (``left_id, right_id,
match_probability``, as ``accord link`` writes them). A record is known by its
id, or by (source, id) when the pairs carry ``left_source``/``right_source``
columns, so ids need only be unique within a source. Pairs at or above the
threshold join their two records; every record in the pairs, linked or not,
belongs to exactly one person (a record with no link is a person on its own).

Connected components: union-find in NumPy ("hook and compress"). Each round,
every edge whose ends have different roots hooks the larger root under the
smallest root it meets (``minimum.at``), then pointer jumping makes every node
point at its root; edges inside one tree are dropped for good. A linkage
graph is many small components, so a handful of whole-array rounds settle
it, in memory proportional to the edges, with no round trip per hop. Label
propagation in DuckDB needs one join per hop of the longest path in a
component, each over every edge; SciPy is not a dependency.

Stable keys. Given the previous run's assignment (record -> person key), each
new cluster and each old key are paired greedily, best first, by (records the
cluster holds of the key's old records, descending; the key's old cluster
size, descending; the key's creation time, oldest first; the key itself), each
cluster taking at most one key and each key going to at most one cluster. So:

- an unchanged cluster, or one that gained new records, keeps its key;
- a merge keeps the key of the larger old cluster (the older key on a tie) and
  the other key is retired, recorded with the key it was merged into;
- a split keeps the key for the part holding most of the old records; the
  other parts get new keys, recorded as split from it;
- a cluster with no old records gets a new key.

New keys are random (version-4 UUIDs from ``os.urandom``, the operating
system's random source), never derived from any identifier, so a key says nothing about the
person. The partition and every kept key are deterministic; only new keys
differ between two runs over the same input.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from accord.errors import InvalidInput

DEFAULT_THRESHOLD = 0.9
ASSIGNMENT_SCHEMA = pa.schema([
    ("source", pa.string()), ("record_id", pa.string()), ("person_key", pa.string()), ("key_created", pa.string()),
])
CHANGES_SCHEMA = pa.schema([
    ("person_key", pa.string()), ("change", pa.string()), ("other_key", pa.string()), ("records", pa.int64()),
])
RETIRED, SPLIT = "retired", "split"  # kinds of change: a key merged into another; a key split off another
_SEP = "\x1f"  # between source and id in a record's internal name


@dataclass
class Clusters:
    """The person of every record, and what changed since the previous assignment."""

    assignments: pa.Table  # ASSIGNMENT_SCHEMA: one row per record (source "" when the pairs name none)
    changes: pa.Table  # CHANGES_SCHEMA: retired keys (merged into other_key) and split-off keys
    stats: dict[str, int] = field(default_factory=dict)


# --------------------------------------------------------------------------- components


def connected_components(nodes: int, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The component of each node 0..nodes-1 given edges a[i]-b[i]: the smallest node in it."""
    parent = np.arange(nodes, dtype=np.int64)
    a, b = np.asarray(a, dtype=np.int64), np.asarray(b, dtype=np.int64)
    while len(a):
        ra, rb = parent[a], parent[b]
        apart = ra != rb
        a, b, ra, rb = a[apart], b[apart], ra[apart], rb[apart]
        if not len(a):
            break
        np.minimum.at(parent, np.maximum(ra, rb), np.minimum(ra, rb))  # hook roots under smaller roots
        while True:  # pointer jumping until every node points at a root
            grand = parent[parent]
            if np.array_equal(grand, parent):
                break
            parent = grand
    return parent


# --------------------------------------------------------------------------- input


def _text(table: pa.Table, column: str, what: str) -> pa.Array:
    values = table.column(column)
    values = values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values
    if not pa.types.is_string(values.type):
        values = values.cast(pa.string())
    return values


def _sources(table: pa.Table, column: str, what: str) -> pa.Array:
    """A source column as text ('' where missing), or all '' when the table has none."""
    if column not in table.column_names:
        return pa.array([""] * table.num_rows, pa.string())
    return pc.fill_null(_text(table, column, what), "")


def _names(sources: pa.Array, ids: pa.Array, what: str) -> pa.Array:
    """A record's internal name: its id, or source<SEP>id when it has a source."""
    for values in (sources, ids):
        if len(values) and pc.any(pc.match_substring(values, _SEP)).as_py():
            raise InvalidInput(f"{what}: an id or source holds a control character (\\x1f)")
    joined = pc.binary_join_element_wise(sources, ids, _SEP)
    return pc.if_else(pc.equal(sources, ""), ids, joined)


def _pair_rows(pairs: pa.Table, what: str) -> tuple[pa.Array, pa.Array, pa.Array, pa.Array, np.ndarray]:
    """(left sources, left ids, right sources, right ids, probabilities) of a pairs table, checked."""
    missing = [c for c in ("left_id", "right_id", "match_probability") if c not in pairs.column_names]
    if missing:
        raise InvalidInput(f"{what}: no column {', '.join(repr(c) for c in missing)} "
                           f"(pairs need left_id, right_id, match_probability)")
    left, right = _text(pairs, "left_id", what), _text(pairs, "right_id", what)
    for name, ids in (("left_id", left), ("right_id", right)):
        empty = ~pc.fill_null(pc.not_equal(ids, ""), False).to_numpy(zero_copy_only=False)
        if empty.any():
            raise InvalidInput(f"{what}: row {int(np.flatnonzero(empty)[0]) + 1}, column {name} is empty")
    probability = pairs.column("match_probability")
    if not (pa.types.is_floating(probability.type) or pa.types.is_integer(probability.type)):
        raise InvalidInput(f"{what}: column match_probability is not numeric")
    p = pc.fill_null(probability.cast(pa.float64()), np.nan).to_numpy(zero_copy_only=False)
    bad = np.flatnonzero(~((p >= 0) & (p <= 1)))
    if len(bad):
        raise InvalidInput(f"{what}: row {bad[0] + 1}, column match_probability is not a number between 0 and 1")
    return (_sources(pairs, "left_source", what), left, _sources(pairs, "right_source", what), right, p)


def _previous_rows(previous: pa.Table, what: str) -> tuple[pa.Array, pa.Array, pa.Array | None]:
    """(record names, person keys, key creation times or None) from a previous assignment."""
    for column in ("record_id", "person_key"):
        if column not in previous.column_names:
            raise InvalidInput(f"{what}: no column '{column}' (a previous assignment has record_id, person_key)")
    ids, keys = _text(previous, "record_id", what), _text(previous, "person_key", what)
    for column, values in (("record_id", ids), ("person_key", keys)):
        empty = ~pc.fill_null(pc.not_equal(values, ""), False).to_numpy(zero_copy_only=False)
        if empty.any():
            raise InvalidInput(f"{what}: row {int(np.flatnonzero(empty)[0]) + 1}, column {column} is empty")
    created = _text(previous, "key_created", what) if "key_created" in previous.column_names else None
    names = _names(_sources(previous, "source", what), ids, what)
    if len(pc.unique(names)) != len(names):
        raise InvalidInput(f"{what}: a record appears more than once")
    return names, keys, created


# --------------------------------------------------------------------------- keys

_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
_DASHES = (8, 13, 18, 23)


def new_keys(count: int) -> pa.Array:
    """``count`` random version-4 UUIDs as text, from the operating system's random source (os.urandom)."""
    raw = np.frombuffer(os.urandom(16 * count), dtype=np.uint8).reshape(count, 16).copy()
    raw[:, 6] = (raw[:, 6] & 0x0F) | 0x40  # version 4
    raw[:, 8] = (raw[:, 8] & 0x3F) | 0x80  # RFC 4122 variant
    digits = np.empty((count, 32), dtype=np.uint8)
    digits[:, 0::2], digits[:, 1::2] = _HEX[raw >> 4], _HEX[raw & 0x0F]
    text = np.full((count, 36), ord("-"), dtype=np.uint8)
    text[:, [i for i in range(36) if i not in _DASHES]] = digits
    keys = pa.FixedSizeBinaryArray.from_buffers(pa.binary(36), count, [None, pa.py_buffer(text.tobytes())])
    return keys.cast(pa.string())


def _stable_keys(component: np.ndarray, components: int, old_key: np.ndarray, key_size: np.ndarray,
                 key_rank: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Which old key (index, or -1) each component keeps, and the (component, old key, records) overlaps
    in the order they were considered: overlap desc, old size desc, key rank asc (oldest first).

    Each side is used at most once. A component and key that only have each other are settled at once;
    the rest (merges and splits, a few) greedily, best first.
    """
    known = old_key >= 0
    keys = max(len(key_size), 1)
    combined, overlap = np.unique(component[known] * np.int64(keys) + old_key[known], return_counts=True)
    comp, key = combined // keys, combined % keys
    order = np.lexsort((key_rank[key], -key_size[key], -overlap))
    comp, key, overlap = comp[order], key[order], overlap[order]
    kept = np.full(components, -1, dtype=np.int64)
    alone = (np.bincount(comp, minlength=components)[comp] == 1) & (np.bincount(key, minlength=keys)[key] == 1)
    kept[comp[alone]] = key[alone]
    used = np.zeros(keys, dtype=bool)
    for c, k in zip(comp[~alone].tolist(), key[~alone].tolist()):
        if kept[c] < 0 and not used[k]:
            kept[c] = k
            used[k] = True
    return kept, comp, key, overlap


def _changes(kept: np.ndarray, comp: np.ndarray, key: np.ndarray, overlap: np.ndarray, person_key: list[str],
             old_keys: list[str]) -> list[tuple[str, str, str, int]]:
    """Retired keys (with the key now holding most of their records) and split-off keys (with the kept key
    they held most records of), from the overlaps in the order ``_stable_keys`` considered them."""
    contested = np.flatnonzero(kept[comp] != key)
    kept_keys = set(kept[kept >= 0].tolist())
    retired: dict[int, tuple[int, int]] = {}
    split: dict[int, tuple[int, int]] = {}
    for c, k, count in zip(comp[contested].tolist(), key[contested].tolist(), overlap[contested].tolist()):
        if k not in kept_keys:
            retired.setdefault(k, (c, count))  # the first seen holds the most
        if kept[c] < 0:
            split.setdefault(c, (k, count))
    rows = [(old_keys[k], RETIRED, person_key[c], count) for k, (c, count) in retired.items()]
    rows += [(person_key[c], SPLIT, old_keys[k], count) for c, (k, count) in split.items() if k in kept_keys]
    return sorted(rows, key=lambda row: (row[1], row[0]))


def cluster(pairs: pa.Table | Sequence[pa.Table], threshold: float = DEFAULT_THRESHOLD,
            previous: pa.Table | None = None, now: datetime | None = None,
            names: Sequence[str] | None = None, previous_name: str = "previous assignment") -> Clusters:
    """Persons from linked pairs, keeping the previous run's keys where the records say so.

    ``pairs``: one or more tables of left_id, right_id, match_probability [, left_source, right_source];
    ``previous``: an earlier ``Clusters.assignments`` (record_id, person_key [, source, key_created]);
    ``names``, ``previous_name``: what to call the tables in error messages.
    """
    tables = [pairs] if isinstance(pairs, pa.Table) else list(pairs)
    if not tables:
        raise InvalidInput("no pairs given")
    if not 0 <= threshold <= 1:
        raise InvalidInput(f"threshold {threshold} is not between 0 and 1")
    now = now or datetime.now(UTC)
    sources, ids, probabilities = [], [], []
    for i, table in enumerate(tables):
        left_src, left, right_src, right, p = _pair_rows(table, names[i] if names else f"pairs {i + 1}")
        sources.append((left_src, right_src))
        ids.append((left, right))
        probabilities.append(p)
    # every endpoint: all left ends, then all right ends
    source_all = pa.concat_arrays([s[0] for s in sources] + [s[1] for s in sources])
    id_all = pa.concat_arrays([i[0] for i in ids] + [i[1] for i in ids])
    p = np.concatenate(probabilities)
    encoded = pc.dictionary_encode(_names(source_all, id_all, "pairs"))
    records = encoded.dictionary
    index = encoded.indices.to_numpy()
    _, first_seen = np.unique(index, return_index=True)
    record_source, record_id = source_all.take(pa.array(first_seen)), id_all.take(pa.array(first_seen))
    n_pairs = len(p)
    linked = p >= threshold
    root = connected_components(len(records), index[:n_pairs][linked], index[n_pairs:][linked])
    roots, component = np.unique(root, return_inverse=True)
    components = len(roots)

    old_keys = pa.array([], pa.string())
    old_created = pa.array([], pa.string())
    kept = np.full(components, -1, dtype=np.int64)
    comp = key = overlap = np.zeros(0, dtype=np.int64)
    if previous is not None:
        prev_names, prev_keys, prev_created = _previous_rows(previous, previous_name)
        key_codes = pc.dictionary_encode(prev_keys)
        old_keys = key_codes.dictionary
        key_of_prev = key_codes.indices.to_numpy()
        key_size = np.bincount(key_of_prev, minlength=len(old_keys)).astype(np.int64)
        # a key's creation time: the earliest given for it ('' sorts first: unknown counts as oldest)
        created = pa.table({"k": key_of_prev, "c": prev_created if prev_created is not None
                            else pa.nulls(len(key_of_prev), pa.string())})
        created = created.group_by("k").aggregate([("c", "min")]).sort_by("k")
        old_created = created.column("c_min").combine_chunks()
        key_rank = np.empty(len(old_keys), dtype=np.int64)
        key_rank[pc.sort_indices(pa.table({"c": pc.fill_null(old_created, ""), "k": old_keys}),
                                 [("c", "ascending"), ("k", "ascending")]).to_numpy()] = np.arange(len(old_keys))
        where = pc.fill_null(pc.index_in(records, value_set=prev_names), -1).to_numpy().astype(np.int64)
        old_key = np.full(len(records), -1, dtype=np.int64)
        seen = where >= 0
        old_key[seen] = key_of_prev[where[seen]]
        kept, comp, key, overlap = _stable_keys(component, components, old_key, key_size, key_rank)

    # each component's key: a kept old key, or a new one; then each record's
    fresh = np.flatnonzero(kept < 0)
    choice = np.where(kept >= 0, kept, 0)
    choice[fresh] = len(old_keys) + np.arange(len(fresh))
    all_keys = pa.concat_arrays([old_keys, new_keys(len(fresh))])
    all_created = pa.concat_arrays([old_created.cast(pa.string()),
                                    pa.array([now.isoformat(timespec="seconds")] * len(fresh), pa.string())])
    component_key = all_keys.take(pa.array(choice))
    changes = _changes(kept, comp, key, overlap, component_key.to_pylist() if len(comp) else [],
                       old_keys.to_pylist())
    assignments = pa.table([record_source, record_id, component_key.take(pa.array(component)),
                            all_created.take(pa.array(choice)).take(pa.array(component))], schema=ASSIGNMENT_SCHEMA)
    assignments = assignments.sort_by([("source", "ascending"), ("record_id", "ascending")])
    changes_table = pa.table({name: [row[i] for row in changes] for i, name in enumerate(CHANGES_SCHEMA.names)},
                             schema=CHANGES_SCHEMA)
    retired = sum(1 for row in changes if row[1] == RETIRED)
    stats = {
        "records": len(records), "pairs": n_pairs, "links": int(linked.sum()), "persons": components,
        "kept": int((kept >= 0).sum()), "new": len(fresh), "retired": retired, "split": len(changes) - retired,
    }
    return Clusters(assignments, changes_table, stats)
