"""RFC 6962 hashing and proofs: reference vectors, every mutation rejected, a naive cross-check."""

from __future__ import annotations

import os
import random

import pytest
from audit_support import (
    RFC6962,
    NaiveTree,
    accepted_mutations,
    consistency_mutations,
    entries,
    inclusion_mutations,
    path_shape,
    proof_shape,
)

from accord.audit import merkle
from accord.audit.merkle import (
    EMPTY_ROOT,
    MemoryNodes,
    consistency_proof,
    decompose,
    inclusion_proof,
    leaf_hash,
    node_hash,
    root,
    split_point,
    verify_consistency,
    verify_inclusion,
)

MUTATION_SIZES = range(1, 41)  # every (index, size) and (first, second) in trees of 1..40 leaves


def tree_of(data: list[bytes]) -> MemoryNodes:
    return MemoryNodes(leaf_hash(d) for d in data)


# ---------------------------------------------------------------- hashing primitives


def test_leaf_and_node_hashes_are_domain_separated_as_rfc_6962_says() -> None:
    assert EMPTY_ROOT.hex() == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    # MTH({d(0)}) = SHA-256(0x00 || d(0)); a leaf and an interior node over the same bytes differ.
    assert leaf_hash(b"").hex() == "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"
    left, right = leaf_hash(b"a"), leaf_hash(b"b")
    assert node_hash(left, right) != leaf_hash(left + right)
    assert node_hash(left, right) != node_hash(right, left)


@pytest.mark.parametrize("n", range(2, 70))
def test_split_point_is_the_largest_power_of_two_below_n(n: int) -> None:
    k = split_point(n)
    assert k & (k - 1) == 0 and k < n <= 2 * k


def test_decompose_tiles_any_range_with_maximal_aligned_subtrees() -> None:
    assert decompose(0, 0) == []
    assert decompose(0, 8) == [(3, 0)]
    assert decompose(0, 7) == [(2, 0), (1, 2), (0, 6)]
    assert decompose(5, 8) == [(0, 5), (1, 3)]
    for start in range(0, 40):
        for end in range(start, 70):
            keys = decompose(start, end)
            position = start
            for level, idx in keys:
                assert idx << level == position, (start, end, keys)  # contiguous, left to right, aligned
                position += 1 << level
            assert position == end
            # maximal: no two neighbours could merge into one aligned subtree
            for (l1, i1), (l2, i2) in zip(keys, keys[1:], strict=False):
                assert not (l1 == l2 and i1 % 2 == 0 and i2 == i1 + 1), (start, end, keys)


# ---------------------------------------------------------------- the RFC 6962 reference tree


def test_reference_roots_for_every_size() -> None:
    full = tree_of(RFC6962.leaves)
    for size, expected in enumerate(RFC6962.roots):
        assert root(full, size) == expected, f"size {size}"
        assert root(tree_of(RFC6962.leaves[:size]), size) == expected, f"size {size}, tree built to that size"
        assert NaiveTree(RFC6962.leaves).mth(0, size) == expected, "the test's own reference disagrees"


@pytest.mark.parametrize(("index", "size"), sorted(RFC6962.inclusion))
def test_reference_inclusion_proofs(index: int, size: int) -> None:
    tree = tree_of(RFC6962.leaves)
    expected = RFC6962.inclusion[(index, size)]
    assert inclusion_proof(tree, index, size) == expected
    assert NaiveTree(RFC6962.leaves).path(index, 0, size) == expected
    assert verify_inclusion(leaf_hash(RFC6962.leaves[index]), index, size, expected, RFC6962.roots[size]) is True


@pytest.mark.parametrize(("first", "second"), sorted(RFC6962.consistency))
def test_reference_consistency_proofs(first: int, second: int) -> None:
    tree = tree_of(RFC6962.leaves)
    expected = RFC6962.consistency[(first, second)]
    assert consistency_proof(tree, first, second) == expected
    assert NaiveTree(RFC6962.leaves).proof(first, second) == expected
    assert verify_consistency(first, second, RFC6962.roots[first], RFC6962.roots[second], expected) is True


def test_every_proof_in_the_reference_tree_verifies() -> None:
    tree = tree_of(RFC6962.leaves)
    for size in range(1, 9):
        for index in range(size):
            proof = inclusion_proof(tree, index, size)
            assert verify_inclusion(leaf_hash(RFC6962.leaves[index]), index, size, proof, RFC6962.roots[size])
        for first in range(1, size + 1):
            proof = consistency_proof(tree, first, size)
            assert verify_consistency(first, size, RFC6962.roots[first], RFC6962.roots[size], proof)


def reference_roots():  # noqa: ANN201
    """Honest roots of the reference tree, extended past 8 leaves for the "size + 1" and "size * 2" claims."""
    tree = tree_of(RFC6962.leaves + entries(9, "extension"))
    return lambda n: root(tree, n)


@pytest.mark.parametrize(("index", "size"), sorted(RFC6962.inclusion))
def test_reference_inclusion_proofs_reject_every_mutation(index: int, size: int) -> None:
    leaf = leaf_hash(RFC6962.leaves[index])
    other = leaf_hash(RFC6962.leaves[(index + 1) % size])
    cases = inclusion_mutations(leaf, index, size, RFC6962.inclusion[(index, size)], reference_roots(), other)
    assert accepted_mutations(verify_inclusion, cases) == []


@pytest.mark.parametrize(("first", "second"), sorted(RFC6962.consistency))
def test_reference_consistency_proofs_reject_every_mutation(first: int, second: int) -> None:
    cases = consistency_mutations(first, second, RFC6962.consistency[(first, second)], reference_roots())
    assert accepted_mutations(verify_consistency, cases) == []


# ---------------------------------------------------------------- every mutation, every proof up to 40 leaves


def big_tree() -> tuple[list[bytes], MemoryNodes, list[bytes]]:
    """Leaves, tree and every root, with room for "size * 2" claims."""
    data = entries(2 * max(MUTATION_SIZES) + 2)
    tree = tree_of(data)
    return [leaf_hash(d) for d in data], tree, [root(tree, n) for n in range(len(data) + 1)]


def test_every_inclusion_proof_up_to_40_leaves_verifies_and_rejects_every_mutation() -> None:
    leaves, tree, roots = big_tree()
    checked, wrong = 0, []
    for size in MUTATION_SIZES:
        for index in range(size):
            proof = inclusion_proof(tree, index, size)
            assert verify_inclusion(leaves[index], index, size, proof, roots[size]) is True, (index, size)
            other = leaves[index ^ 1] if (index ^ 1) < size else leaves[index - 1] if index else leaf_hash(b"x")
            cases = inclusion_mutations(leaves[index], index, size, proof, roots.__getitem__, other)
            checked += len(cases)
            wrong += [f"leaf {index} of {size}: {w}" for w in accepted_mutations(verify_inclusion, cases)]
    assert wrong == [], f"{len(wrong)} of {checked} mutated proofs not rejected, e.g. {wrong[:10]}"
    assert checked > 20_000


def test_every_consistency_proof_up_to_40_leaves_verifies_and_rejects_every_mutation() -> None:
    _, tree, roots = big_tree()
    checked, wrong = 0, []
    for second in MUTATION_SIZES:
        for first in range(1, second + 1):
            proof = consistency_proof(tree, first, second)
            assert verify_consistency(first, second, roots[first], roots[second], proof) is True, (first, second)
            cases = consistency_mutations(first, second, proof, roots.__getitem__)
            checked += len(cases)
            wrong += [f"{first} -> {second}: {w}" for w in accepted_mutations(verify_consistency, cases)]
    assert wrong == [], f"{len(wrong)} of {checked} mutated proofs not rejected, e.g. {wrong[:10]}"
    assert checked > 20_000


def test_a_changed_size_with_the_original_root_is_accepted_only_when_the_rfc_path_shape_is_the_same() -> None:
    """RFC 9162 verification binds a proof to a (size, root) pair, not to a size alone.

    A checkpoint signs the size and root together, so claiming another size
    with the same root is not an attack the proof has to stop, and for some
    sizes it cannot (leaf 0's path is "right, right, right" in trees of 5 to 8
    leaves). This pins down exactly when that happens: the verifier accepts a
    changed size with the original root if and only if the RFC 6962
    definitions give the same shape of path or proof for both sizes.
    """
    leaves, tree, roots = big_tree()
    shared, differing = 0, []
    for size in MUTATION_SIZES:
        for index in range(size):
            proof = inclusion_proof(tree, index, size)
            for claimed in {size - 1, size + 1, size * 2, size // 2}:
                same_shape = path_shape(index, claimed) == path_shape(index, size)
                shared += same_shape
                if verify_inclusion(leaves[index], index, claimed, proof, roots[size]) is not same_shape:
                    differing.append(f"leaf {index}: size {size} claimed as {claimed}")
        for first in range(1, size + 1):
            proof = consistency_proof(tree, first, size)
            for m, n in {(first - 1, size), (first + 1, size), (first, size - 1), (first, size + 1), (first ^ 1, size)}:
                same_shape = proof_shape(m, n) == proof_shape(first, size) and proof_shape(m, n) is not None
                shared += same_shape
                if verify_consistency(m, n, roots[first], roots[size], proof) is not same_shape:
                    differing.append(f"consistency {first}->{size} claimed as {m}->{n}")
    assert differing == [], differing[:10]
    assert shared > 100  # the case is real, and common


def test_the_mutation_harness_reports_a_verifier_that_accepts_anything() -> None:
    """The mutation tests can fail: a permissive or crashing verifier is caught."""
    leaves, tree, roots = big_tree()
    proof = inclusion_proof(tree, 2, 5)
    cases = inclusion_mutations(leaves[2], 2, 5, proof, roots.__getitem__, leaves[3])
    assert len(accepted_mutations(lambda *args: True, cases)) == len(cases)

    def crashes(*args: object) -> bool:
        raise IndexError("boom")

    assert all("raised IndexError" in w for w in accepted_mutations(crashes, cases))


@pytest.mark.parametrize(
    "args",
    [
        (b"\x00" * 32, 0, 0, [], EMPTY_ROOT),
        (b"\x00" * 32, -1, 4, [], EMPTY_ROOT),
        (b"\x00" * 32, 4, 4, [], EMPTY_ROOT),
        (b"\x00" * 32, 0, -3, [], EMPTY_ROOT),
        (b"\x00" * 32, 0, 4, [b"short"], EMPTY_ROOT),
        (b"\x00" * 32, 0, 2**64, [b"\x01" * 32] * 70, EMPTY_ROOT),
    ],
)
def test_verify_inclusion_says_false_to_nonsense_and_never_raises(args: tuple) -> None:
    assert verify_inclusion(*args) is False


@pytest.mark.parametrize(
    "args",
    [
        (0, 0, EMPTY_ROOT, EMPTY_ROOT, []),
        (0, 5, EMPTY_ROOT, EMPTY_ROOT, [b"\x01" * 32]),
        (5, 4, EMPTY_ROOT, EMPTY_ROOT, [b"\x01" * 32]),
        (-1, 4, EMPTY_ROOT, EMPTY_ROOT, [b"\x01" * 32]),
        (3, 3, EMPTY_ROOT, leaf_hash(b"x"), []),
        (3, 5, EMPTY_ROOT, EMPTY_ROOT, []),
        (3, 5, EMPTY_ROOT, EMPTY_ROOT, [b"tiny"]),
        (3, 2**64, EMPTY_ROOT, EMPTY_ROOT, [b"\x01" * 32] * 70),
    ],
)
def test_verify_consistency_says_false_to_nonsense_and_never_raises(args: tuple) -> None:
    assert verify_consistency(*args) is False


def test_proofs_are_refused_for_sizes_outside_the_tree() -> None:
    tree = tree_of(entries(4))
    for index, size in [(0, 0), (4, 4), (-1, 4)]:
        with pytest.raises(ValueError, match="not in a tree"):
            inclusion_proof(tree, index, size)
    for first, second in [(0, 4), (5, 4), (-1, 2)]:
        with pytest.raises(ValueError, match="no consistency proof"):
            consistency_proof(tree, first, second)
    with pytest.raises(ValueError):
        root(tree, -1)
    with pytest.raises(LookupError, match="lacks"):
        root(tree, 5)  # beyond what the store holds: an error, not a wrong root


# ---------------------------------------------------------------- randomised cross-check against the naive tree


def test_random_trees_up_to_thousands_of_leaves_match_the_naive_rfc_definitions() -> None:
    seed = int(os.environ.get("ACCORD_TEST_SEED", "6962"))
    rng = random.Random(seed)
    biggest = 3000
    data = [rng.randbytes(rng.randrange(0, 40)) for _ in range(biggest)]
    naive = NaiveTree(data)
    tree = tree_of(data)
    # every root along the way, including sizes just around powers of two
    for size in range(biggest + 1):
        assert root(tree, size) == naive.mth(0, size), f"root of size {size} (seed {seed})"
    sizes = [1, 2, 3, 1023, 1024, 1025, 2047, 2048, 2049, biggest] + [rng.randrange(1, biggest + 1) for _ in range(40)]
    for size in sizes:
        size_root = naive.mth(0, size)
        for index in {0, size - 1, size // 2, rng.randrange(size)}:
            proof = inclusion_proof(tree, index, size)
            assert proof == naive.path(index, 0, size), f"inclusion {index}/{size} (seed {seed})"
            assert verify_inclusion(leaf_hash(data[index]), index, size, proof, size_root)
        for first in {1, size, size // 2 or 1, rng.randrange(1, size + 1)}:
            proof = consistency_proof(tree, first, size)
            assert proof == naive.proof(first, size), f"consistency {first}->{size} (seed {seed})"
            assert verify_consistency(first, size, naive.mth(0, first), size_root, proof)


def test_memory_nodes_store_exactly_the_complete_subtrees() -> None:
    tree = tree_of(entries(11))
    naive = NaiveTree(entries(11))
    assert tree.size == 11
    expected = {(lvl, i) for lvl in range(4) for i in range(11 >> lvl)}
    assert set(tree.hashes) == expected
    for (lvl, i), value in tree.hashes.items():
        assert value == naive.mth(i << lvl, (i + 1) << lvl)
    assert merkle.MemoryNodes().nodes([(0, 0)]) == {}
