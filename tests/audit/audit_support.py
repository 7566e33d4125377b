"""Shared pieces for the audit-log tests.

- RFC6962: the published 8-leaf reference tree (transparency-dev/merkle
  testonly data): leaves, roots for every size, inclusion and consistency
  proofs.
- NaiveTree: the test's own Merkle tree, written straight from the
  definitions in RFC 6962 section 2.1 (MTH, PATH, PROOF/SUBPROOF), recursive
  and with no shared code with accord.audit.merkle.
- helpers to fill a hub's log, read it back and tamper with it in SQL.

Named ``audit_support`` (not ``conftest``) so it cannot shadow the shared
tests/conftest.py.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta
from functools import lru_cache

from sqlalchemy import delete, func, select, text, update

from accord.audit import merkle
from accord.audit.log import AuditRecord, append, canonical
from accord.audit.sequencer import integrate
from accord.storage.models import AuditEntry, AuditHead, AuditNode, AuditSubject

# Same instant as tests/conftest.py NOW (not imported: see policy_support.py).
NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


# ---------------------------------------------------------------- RFC 6962 reference data


def _h(value: str) -> bytes:
    return bytes.fromhex(value)


class RFC6962:
    """transparency-dev/merkle testonly reference tree (used here as data)."""

    leaves = [
        _h(x)
        for x in [
            "",
            "00",
            "10",
            "2021",
            "3031",
            "40414243",
            "5051525354555657",
            "606162636465666768696a6b6c6d6e6f",
        ]
    ]
    roots = [
        _h(x)
        for x in [
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
            "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
            "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
            "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
            "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
        ]
    ]
    _A = "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"
    _B = "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"
    _C = "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"
    _D = "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"
    _E = "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"
    _F = "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"
    _G = "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"
    _H = "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"
    _I = "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a"
    # (leaf index, tree size) -> proof
    inclusion = {
        (0, 8): [_h(_A), _h(_B), _h(_C)],
        (5, 8): [_h(_D), _h(_E), _h(_F)],
        (2, 3): [_h(_G)],
        (1, 5): [_h(_H), _h(_B), _h(_D)],
    }
    # (first size, second size) -> proof
    consistency = {
        (1, 1): [],
        (1, 8): [_h(_A), _h(_B), _h(_C)],
        (6, 8): [_h(_I), _h(_E), _h(_F)],
        (2, 5): [_h(_B), _h(_D)],
    }


# ---------------------------------------------------------------- naive RFC 6962 reference


def _sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def _k(n: int) -> int:
    """The largest power of two smaller than n (n > 1), found by doubling as the RFC words it."""
    k = 1
    while k * 2 < n:
        k *= 2
    return k


class NaiveTree:
    """RFC 6962 section 2.1 over a list of entries (raw data), by the definitions."""

    def __init__(self, entries: list[bytes]) -> None:
        self.entries = list(entries)
        self.mth = lru_cache(maxsize=None)(self._mth)

    def _mth(self, start: int, end: int) -> bytes:
        """MTH(D[start:end])."""
        n = end - start
        if n == 0:
            return _sha256(b"")
        if n == 1:
            return _sha256(b"\x00" + self.entries[start])
        k = _k(n)
        return _sha256(b"\x01" + self.mth(start, start + k) + self.mth(start + k, end))

    def path(self, m: int, start: int, end: int) -> list[bytes]:
        """PATH(m, D[start:end]) with m relative to start."""
        n = end - start
        if n == 1:
            return []
        k = _k(n)
        if m < k:
            return self.path(m, start, start + k) + [self.mth(start + k, end)]
        return self.path(m - k, start + k, end) + [self.mth(start, start + k)]

    def proof(self, m: int, n: int) -> list[bytes]:
        """PROOF(m, D[n]) = SUBPROOF(m, D[n], true)."""
        return self._subproof(m, 0, n, True)

    def _subproof(self, m: int, start: int, end: int, b: bool) -> list[bytes]:
        n = end - start
        if m == n:
            return [] if b else [self.mth(start, end)]
        k = _k(n)
        if m <= k:
            return self._subproof(m, start, start + k, b) + [self.mth(start + k, end)]
        return self._subproof(m - k, start + k, end, False) + [self.mth(start, start + k)]


def entries(count: int, tag: str = "entry") -> list[bytes]:
    return [f"{tag} {i}".encode() for i in range(count)]


def flip(value: bytes, bit: int = 0) -> bytes:
    """``value`` with one bit flipped (bit counted from the first byte's low bit)."""
    data = bytearray(value)
    data[(bit // 8) % len(data)] ^= 1 << (bit % 8)
    return bytes(data)


# ---------------------------------------------------------------- mutations of proofs


def _proof_mutations(proof: list[bytes], filler: bytes) -> list[tuple[str, list[bytes]]]:
    out: list[tuple[str, list[bytes]]] = []
    for i, node in enumerate(proof):
        for bit in (0, 7, 133, 255):
            out.append((f"node {i} bit {bit} flipped", proof[:i] + [flip(node, bit)] + proof[i + 1 :]))
        out.append((f"node {i} dropped", proof[:i] + proof[i + 1 :]))
        out.append((f"node {i} truncated to 31 bytes", proof[:i] + [node[:31]] + proof[i + 1 :]))
        out.append((f"node {i} extended to 33 bytes", proof[:i] + [node + b"\x00"] + proof[i + 1 :]))
        out.append((f"node {i} duplicated", proof[: i + 1] + [node] + proof[i + 1 :]))
    for i in range(len(proof) + 1):
        out.append((f"extra node at {i}", proof[:i] + [filler] + proof[i:]))
    for i in range(len(proof) - 1):
        if proof[i] != proof[i + 1]:
            out.append((f"nodes {i} and {i + 1} swapped", proof[:i] + [proof[i + 1], proof[i]] + proof[i + 2 :]))
    if len(proof) > 2:
        out.append(("proof reversed", list(reversed(proof))))
    if proof:
        out.append(("all nodes dropped", []))
    return out


def inclusion_mutations(
    leaf: bytes, index: int, size: int, proof: list[bytes], root_of, other_leaf: bytes  # noqa: ANN001
) -> list[tuple[str, tuple]]:
    """Every way the issue lists of getting an inclusion check wrong, as verify_inclusion arguments.

    ``root_of(n)`` is the honest root of the tree at size n: a changed size is
    claimed with the root a checkpoint of that size would carry. (With the
    original root kept, a changed size is undetectable when both sizes give
    the leaf the same path shape; see ``path_shape``.)
    """
    filler = hashlib.sha256(b"filler").digest()
    root = root_of(size)
    cases: list[tuple[str, tuple]] = [
        ("index + 1", (leaf, index + 1, size, proof, root)),
        ("index - 1", (leaf, index - 1, size, proof, root)),
        ("index ^ 1", (leaf, index ^ 1, size, proof, root)),
        ("size + 1", (leaf, index, size + 1, proof, root_of(size + 1))),
        ("size - 1", (leaf, index, size - 1, proof, root_of(size - 1))),
        ("size * 2", (leaf, index, size * 2, proof, root_of(size * 2))),
        ("size // 2", (leaf, index, size // 2, proof, root_of(size // 2))),
        ("wrong root (bit flip)", (leaf, index, size, proof, flip(root))),
        ("root of the next smaller tree", (leaf, index, size, proof, root_of(size - 1))),
        ("root of the next larger tree", (leaf, index, size, proof, root_of(size + 1))),
        ("wrong leaf (bit flip)", (flip(leaf), index, size, proof, root)),
        ("another leaf's hash", (other_leaf, index, size, proof, root)),
        ("empty leaf", (b"", index, size, proof, root)),
    ]
    cases += [(what, (leaf, index, size, bad, root)) for what, bad in _proof_mutations(proof, filler)]
    return cases


def consistency_mutations(
    first: int, second: int, proof: list[bytes], root_of  # noqa: ANN001
) -> list[tuple[str, tuple]]:
    """Every way of getting a consistency check wrong, as verify_consistency arguments.

    Changed sizes are claimed with the honest roots of the claimed sizes.
    """
    filler = hashlib.sha256(b"filler").digest()
    first_root, second_root = root_of(first), root_of(second)
    cases: list[tuple[str, tuple]] = []
    for what, m, n in [
        ("first + 1", first + 1, second),
        ("first - 1", first - 1, second),
        ("first ^ 1", first ^ 1, second),
        ("second + 1", first, second + 1),
        ("second - 1", first, second - 1),
        ("both + 1", first + 1, second + 1),
    ]:
        if what == "both + 1" and first == second:
            continue  # (n+1, n+1) with an empty proof is a true statement, not a mutation
        cases.append((what, (m, n, root_of(m), root_of(n), proof)))
    cases += [
        ("first root bit flipped", (first, second, flip(first_root), second_root, proof)),
        ("second root bit flipped", (first, second, first_root, flip(second_root, 200), proof)),
        ("first root of the next larger tree", (first, second, root_of(first + 1), second_root, proof)),
        ("second root of the next larger tree", (first, second, first_root, root_of(second + 1), proof)),
        ("second root of the next smaller tree", (first, second, first_root, root_of(second - 1), proof)),
    ]
    if first != second:
        cases.append(("roots swapped", (first, second, second_root, first_root, proof)))
        cases.append(("sizes swapped", (second, first, first_root, second_root, proof)))
    cases += [(what, (first, second, first_root, second_root, bad)) for what, bad in _proof_mutations(proof, filler)]
    return cases


def path_shape(m: int, n: int) -> tuple[str, ...] | None:
    """The sides of PATH(m, D[n])'s nodes, leaf to root, by RFC 6962's definition (None: no such path)."""
    if not 0 <= m < n:
        return None
    if n == 1:
        return ()
    k = _k(n)
    if m < k:
        return path_shape(m, k) + ("right",)  # type: ignore[operator]
    return path_shape(m - k, n - k) + ("left",)  # type: ignore[operator]


def proof_shape(m: int, n: int) -> tuple[str, ...] | None:
    """The sides of PROOF(m, D[n])'s nodes, bottom up, and what it starts from (None: no such proof)."""
    if not 0 < m <= n:
        return None
    return _subproof_shape(m, n, True)


def _subproof_shape(m: int, n: int, b: bool) -> tuple[str, ...]:
    if m == n:
        return ("starts from the old root",) if b else ("starts from a proof node",)
    k = _k(n)
    if m <= k:
        return _subproof_shape(m, k, b) + ("right",)
    return _subproof_shape(m - k, n - k, False) + ("left",)


def accepted_mutations(verifier, cases: list[tuple[str, tuple]]) -> list[str]:  # noqa: ANN001
    """Names of the mutated cases the verifier accepted or raised on (both are failures)."""
    wrong = []
    for what, args in cases:
        try:
            if verifier(*args) is not False:
                wrong.append(f"{what}: accepted")
        except Exception as exc:  # noqa: BLE001 - a verifier must say False, never raise
            wrong.append(f"{what}: raised {type(exc).__name__}: {exc}")
    return wrong


# ---------------------------------------------------------------- a hub's log


def record(i: int, *, when: datetime = NOW, subjects: tuple[str, ...] = (), **changes: object) -> AuditRecord:
    values: dict = {
        "kind": "test.entry",
        "occurred_at": when + timedelta(seconds=i),
        "outcome": "done",
        "body_id": "dwp",
        "actor": f"tester {i}",
        "subjects": subjects,
        "request_id": f"req-{i}",
        "details": {"n": i},
    }
    values.update(changes)
    return AuditRecord(**values)


def append_entries(hub, start: int, count: int, **changes: object) -> None:  # noqa: ANN001
    """Append ``count`` records numbered from ``start``, in one committed transaction."""
    with hub.transaction() as session:
        for i in range(start, start + count):
            append(session, record(i, **changes))


def integrate_all(hub, limit: int = 5000) -> int:  # noqa: ANN001
    return integrate(hub.sessions, lambda: NOW, limit=limit)


def leaf_hashes(session) -> list[bytes]:  # noqa: ANN001
    """The leaf hashes of the integrated entries' payloads, in leaf order."""
    payloads = session.scalars(
        select(AuditEntry.payload).where(AuditEntry.leaf_index.is_not(None)).order_by(AuditEntry.leaf_index)
    )
    return [merkle.leaf_hash(p.encode()) for p in payloads]


def stored_nodes(session) -> dict[tuple[int, int], bytes]:  # noqa: ANN001
    rows = session.execute(select(AuditNode.level, AuditNode.idx, AuditNode.hash))
    return {(lvl, idx): bytes(h) for lvl, idx, h in rows}


def count(session, model, *where) -> int:  # noqa: ANN001
    return session.scalar(select(func.count()).select_from(model).where(*where))


# ---------------------------------------------------------------- tampering, as someone with SQL access would


def tamper_edit(session, leaf: int, **changes: object) -> None:  # noqa: ANN001
    """Change fields of a logged payload in place (still valid canonical-looking JSON)."""
    payload = json.loads(session.scalar(select(AuditEntry.payload).where(AuditEntry.leaf_index == leaf)))
    payload.update(changes or {"outcome": "deny" if payload.get("outcome") != "deny" else "allow"})
    edited = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    session.execute(update(AuditEntry).where(AuditEntry.leaf_index == leaf).values(payload=edited))


def tamper_delete(session, leaf: int) -> None:  # noqa: ANN001
    entry_id = session.scalar(select(AuditEntry.id).where(AuditEntry.leaf_index == leaf))
    session.execute(delete(AuditSubject).where(AuditSubject.entry_id == entry_id))
    session.execute(delete(AuditEntry).where(AuditEntry.id == entry_id))


def tamper_swap(session, a: int, b: int) -> None:  # noqa: ANN001
    """Swap two entries' positions through a temporary index (leaf_index is unique)."""
    session.execute(text("UPDATE audit_entries SET leaf_index = -1 WHERE leaf_index = :a"), {"a": a})
    session.execute(text("UPDATE audit_entries SET leaf_index = :a WHERE leaf_index = :b"), {"a": a, "b": b})
    session.execute(text("UPDATE audit_entries SET leaf_index = :b WHERE leaf_index = -1"), {"b": b})


def tamper_insert(session, leaf: int, forged: AuditRecord) -> None:  # noqa: ANN001
    """Slip a forged entry in at ``leaf``, shifting later entries up by one."""
    shift = 1_000_000
    session.execute(
        text("UPDATE audit_entries SET leaf_index = leaf_index + :s WHERE leaf_index >= :i"), {"s": shift, "i": leaf}
    )
    session.execute(
        text("UPDATE audit_entries SET leaf_index = leaf_index - :s + 1 WHERE leaf_index >= :s"), {"s": shift}
    )
    session.add(
        AuditEntry(
            leaf_index=leaf,
            occurred_at=forged.occurred_at,
            kind=forged.kind,
            body_id=forged.body_id,
            request_id=forged.request_id,
            payload=canonical(forged),
        )
    )
    session.flush()


def tamper_node(session, level: int, idx: int) -> None:  # noqa: ANN001
    old = session.scalar(select(AuditNode.hash).where(AuditNode.level == level, AuditNode.idx == idx))
    assert old is not None, f"no stored node ({level}, {idx})"
    session.execute(
        update(AuditNode).where(AuditNode.level == level, AuditNode.idx == idx).values(hash=flip(bytes(old), 9))
    )


def rebuild_tree(session) -> bytes:  # noqa: ANN001
    """Recompute every stored hash and the head from the payloads as they now are (a careful forger)."""
    hashes = leaf_hashes(session)
    tree = merkle.MemoryNodes(hashes)
    session.execute(delete(AuditNode))
    session.execute(
        AuditNode.__table__.insert(), [{"level": lvl, "idx": idx, "hash": h} for (lvl, idx), h in tree.hashes.items()]
    )
    new_root = merkle.root(tree, tree.size)
    session.execute(update(AuditHead).where(AuditHead.id == 1).values(tree_size=tree.size, root_hash=new_root))
    return new_root
