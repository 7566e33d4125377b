"""RFC 6962 / RFC 9162 Merkle tree hashing, proofs and proof verification.

The tree is read through a ``NodeSource``: any store of *complete aligned
subtree* hashes, addressed (level, index), where level 0 is the leaf hashes
and node (L, i) covers leaves [i * 2**L, (i + 1) * 2**L). Every root, path
and consistency proof of an RFC 6962 tree is a right fold of such subtrees,
so a store that keeps them answers any proof in O(log^2 n) lookups made in
one batch, whatever the size of the log. See docs/adr/0006-audit-log.md for
why this is written here rather than taken from a library.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from typing import Protocol

LEAF_PREFIX = b"\x00"
NODE_PREFIX = b"\x01"
EMPTY_ROOT = hashlib.sha256(b"").digest()

Key = tuple[int, int]  # (level, index)
Range = tuple[int, int]  # [start, end) in leaves


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(LEAF_PREFIX + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(NODE_PREFIX + left + right).digest()


def split_point(n: int) -> int:
    """The largest power of two smaller than n (RFC 6962's k), for n > 1."""
    return 1 << ((n - 1).bit_length() - 1)


class NodeSource(Protocol):
    def nodes(self, keys: Iterable[Key]) -> dict[Key, bytes]:
        """Hashes of the complete subtrees asked for; all must exist."""


def decompose(start: int, end: int) -> list[Key]:
    """The maximal aligned complete subtrees that tile [start, end), left to right."""
    keys: list[Key] = []
    while start < end:
        level = (start & -start).bit_length() - 1 if start else (end - start).bit_length() - 1
        while start + (1 << level) > end:
            level -= 1
        keys.append((level, start >> level))
        start += 1 << level
    return keys


def _fold(keys: Sequence[Key], hashes: dict[Key, bytes]) -> bytes:
    result = hashes[keys[-1]]
    for key in reversed(keys[:-1]):
        result = node_hash(hashes[key], result)
    return result


def _roots_of(source: NodeSource, ranges: Sequence[Range]) -> list[bytes]:
    """The root of each leaf range, from one batch of node lookups."""
    needed = {key for start, end in ranges for key in decompose(start, end)}
    hashes = source.nodes(needed) if needed else {}
    missing = needed - hashes.keys()
    if missing:
        raise LookupError(f"the node store lacks {len(missing)} subtree hashes, e.g. {min(missing)}")
    return [_fold(decompose(start, end), hashes) for start, end in ranges]


def inclusion_with_root(source: NodeSource, index: int, size: int) -> tuple[bytes, list[bytes], bytes]:
    """(leaf hash, inclusion proof, root) for one leaf, in a single batch of lookups."""
    if not 0 <= index < size:
        raise ValueError(f"leaf {index} is not in a tree of size {size}")
    roots = _roots_of(source, [(index, index + 1), (0, size), *_path_ranges(index, size)])
    return roots[0], roots[2:], roots[1]


def consistency_with_roots(source: NodeSource, first: int, second: int) -> tuple[bytes, bytes, list[bytes]]:
    """(first root, second root, consistency proof), in a single batch of lookups."""
    if not 0 < first <= second:
        raise ValueError(f"no consistency proof from size {first} to size {second}")
    ranges = [] if first == second else _consistency_ranges(first, second)
    roots = _roots_of(source, [(0, first), (0, second), *ranges])
    return roots[0], roots[1], roots[2:]


def root(source: NodeSource, size: int) -> bytes:
    if size < 0:
        raise ValueError("tree size cannot be negative")
    if size == 0:
        return EMPTY_ROOT
    return _roots_of(source, [(0, size)])[0]


def _path_ranges(index: int, size: int) -> list[Range]:
    """RFC 6962 PATH(m, D[n]) as the leaf ranges whose roots form it, leaf to root."""
    ranges: list[Range] = []
    start, end = 0, size
    while end - start > 1:
        k = split_point(end - start)
        if index < start + k:
            ranges.append((start + k, end))
            end = start + k
        else:
            ranges.append((start, start + k))
            start = start + k
    return list(reversed(ranges))


def _consistency_ranges(first: int, second: int) -> list[Range]:
    """RFC 6962 PROOF(m, D[n]) = SUBPROOF(m, D[n], true), as leaf ranges, bottom up."""
    ranges: list[Range] = []
    start, end, m, complete = 0, second, first, True
    while True:
        n = end - start
        if m == n:
            if not complete:
                ranges.append((start, end))
            break
        k = split_point(n)
        if m <= k:
            ranges.append((start + k, end))
            end = start + k
        else:
            ranges.append((start, start + k))
            start, m, complete = start + k, m - k, False
    return list(reversed(ranges))


def inclusion_proof(source: NodeSource, index: int, size: int) -> list[bytes]:
    if not 0 <= index < size:
        raise ValueError(f"leaf {index} is not in a tree of size {size}")
    return _roots_of(source, _path_ranges(index, size))


def consistency_proof(source: NodeSource, first: int, second: int) -> list[bytes]:
    if not 0 < first <= second:
        raise ValueError(f"no consistency proof from size {first} to size {second}")
    if first == second:
        return []
    return _roots_of(source, _consistency_ranges(first, second))


def verify_inclusion(leaf: bytes, index: int, size: int, proof: Sequence[bytes], expected_root: bytes) -> bool:
    """RFC 9162 section 2.1.3.2."""
    if not 0 <= index < size or any(len(p) != 32 for p in proof):
        return False
    fn, sn, result = index, size - 1, leaf
    for sibling in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            result = node_hash(sibling, result)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            result = node_hash(result, sibling)
        fn >>= 1
        sn >>= 1
    return sn == 0 and result == expected_root


def verify_consistency(
    first: int, second: int, first_root: bytes, second_root: bytes, proof: Sequence[bytes]
) -> bool:
    """RFC 9162 section 2.1.4.2."""
    if not 0 < first <= second or any(len(p) != 32 for p in proof):
        return False
    if first == second:
        return not proof and first_root == second_root
    if not proof:
        return False
    path = list(proof)
    if first & (first - 1) == 0:  # first is an exact power of two
        path.insert(0, first_root)
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return sn == 0 and fr == first_root and sr == second_root


def complete_parents(level0_index: int, leaf: bytes, left_siblings: dict[Key, bytes]) -> list[tuple[Key, bytes]]:
    """The complete subtrees that appending leaf ``level0_index`` finishes, bottom up.

    ``left_siblings`` must hold the left sibling of each finished node (the
    right edge of the tree before this leaf), keyed (level, index).
    """
    finished: list[tuple[Key, bytes]] = [((0, level0_index), leaf)]
    level, index, current = 0, level0_index, leaf
    while index & 1:
        sibling = left_siblings[(level, index - 1)]
        current = node_hash(sibling, current)
        level, index = level + 1, index >> 1
        finished.append(((level, index), current))
    return finished


class MemoryNodes:
    """An in-memory NodeSource, built by appending leaf hashes (tests, verification)."""

    def __init__(self, leaves: Iterable[bytes] = ()) -> None:
        self.hashes: dict[Key, bytes] = {}
        self.size = 0
        for leaf in leaves:
            self.append(leaf)

    def append(self, leaf: bytes) -> None:
        for key, value in complete_parents(self.size, leaf, self.hashes):
            self.hashes[key] = value
        self.size += 1

    def nodes(self, keys: Iterable[Key]) -> dict[Key, bytes]:
        return {key: self.hashes[key] for key in keys if key in self.hashes}
