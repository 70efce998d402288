"""RFC 9162 Merkle tree: the certificate-transparency vectors, then properties for arbitrary sizes."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from server.audit.merkle import (
    EMPTY_ROOT,
    CompactRange,
    ProofError,
    consistency_ranges,
    fold_perfect,
    inclusion_ranges,
    leaf_hash,
    node_hash,
    perfect_subtrees,
    root_of,
    verify_consistency,
    verify_inclusion,
)

VECTORS: dict[str, Any] = json.loads((Path(__file__).parent / "vectors" / "ct_merkle.json").read_text())
LEAVES = [leaf_hash(bytes.fromhex(leaf)) for leaf in VECTORS["leaves"]]
ROOTS = [bytes.fromhex(root) for root in VECTORS["roots"]]


# -- a reference written straight from the RFC's recursive definitions, to compare against --------


def ref_mth(hashes: list[bytes]) -> bytes:
    if not hashes:
        return EMPTY_ROOT
    if len(hashes) == 1:
        return hashes[0]
    k = 1
    while k * 2 < len(hashes):
        k *= 2
    return node_hash(ref_mth(hashes[:k]), ref_mth(hashes[k:]))


def ref_path(m: int, hashes: list[bytes]) -> list[bytes]:
    if len(hashes) == 1:
        return []
    k = 1
    while k * 2 < len(hashes):
        k *= 2
    if m < k:
        return [*ref_path(m, hashes[:k]), ref_mth(hashes[k:])]
    return [*ref_path(m - k, hashes[k:]), ref_mth(hashes[:k])]


def ref_subproof(m: int, hashes: list[bytes], whole: bool) -> list[bytes]:
    n = len(hashes)
    if m == n:
        return [] if whole else [ref_mth(hashes)]
    k = 1
    while k * 2 < n:
        k *= 2
    if m <= k:
        return [*ref_subproof(m, hashes[:k], whole), ref_mth(hashes[k:])]
    return [*ref_subproof(m - k, hashes[k:], False), ref_mth(hashes[:k])]


def proof_from_leaves(ranges: list[tuple[int, int]], hashes: list[bytes]) -> list[bytes]:
    """Build a proof the way the database does: perfect subtrees, folded."""
    out = []
    for start, end in ranges:
        nodes = perfect_subtrees(start, end)
        out.append(fold_perfect([ref_mth(hashes[i << lv : (i + 1) << lv]) for lv, i in nodes]))
    return out


def leaves(count: int) -> list[bytes]:
    return [leaf_hash(i.to_bytes(4, "big")) for i in range(count)]


# -- known vectors ---------------------------------------------------------------------------------


def test_empty_tree_hash_is_sha256_of_nothing() -> None:
    assert root_of([]) == hashlib.sha256(b"").digest()


@pytest.mark.parametrize("size", range(1, 9))
def test_roots_match_ct_vectors(size: int) -> None:
    assert root_of(LEAVES[:size]) == ROOTS[size - 1]


@pytest.mark.parametrize("case", VECTORS["inclusion"], ids=lambda c: f"{c['index']}-of-{c['size']}")
def test_inclusion_proofs_match_ct_vectors(case: dict[str, Any]) -> None:
    index, size = case["index"], case["size"]
    expected = [bytes.fromhex(p) for p in case["proof"]]
    assert proof_from_leaves(inclusion_ranges(index, size), LEAVES[:size]) == expected
    verify_inclusion(index, size, LEAVES[index], expected, ROOTS[size - 1])


@pytest.mark.parametrize("case", VECTORS["consistency"], ids=lambda c: f"{c['old']}-to-{c['new']}")
def test_consistency_proofs_match_ct_vectors(case: dict[str, Any]) -> None:
    old, new = case["old"], case["new"]
    expected = [bytes.fromhex(p) for p in case["proof"]]
    assert proof_from_leaves(consistency_ranges(old, new), LEAVES[:new]) == expected
    verify_consistency(old, new, ROOTS[old - 1], ROOTS[new - 1], expected)


def test_inclusion_rejects_every_kind_of_wrong_input() -> None:
    # The checks certificate-transparency-go's verifierCheck makes, on the 6-of-8 vector.
    case = VECTORS["inclusion"][2]
    index, size = case["index"], case["size"]
    proof = [bytes.fromhex(p) for p in case["proof"]]
    root, leaf = ROOTS[size - 1], LEAVES[index]
    wrong: list[tuple[int, int, bytes, list[bytes], bytes]] = [
        (index - 1, size, leaf, proof, root),
        (index + 1, size, leaf, proof, root),
        (index ^ 2, size, leaf, proof, root),
        (index, size * 2, leaf, proof, root),
        (index, size // 2, leaf, proof, root),
        (index, size, leaf_hash(b"WrongLeaf"), proof, root),
        (index, size, leaf, proof, EMPTY_ROOT),
        (index, size, leaf, [*proof, root], root),
        (index, size, leaf, proof[:-1], root),
        (index, size, leaf, [root, *proof], root),
        (index, size, leaf, [*proof, b""], root),
    ]
    for position in range(len(proof)):
        changed = list(proof)
        changed[position] = EMPTY_ROOT
        wrong.append((index, size, leaf, changed, root))
    for args in wrong:
        with pytest.raises(ProofError):
            verify_inclusion(*args)


def test_consistency_rejects_wrong_inputs() -> None:
    case = VECTORS["consistency"][2]
    old, new = case["old"], case["new"]
    proof = [bytes.fromhex(p) for p in case["proof"]]
    r1, r2 = ROOTS[old - 1], ROOTS[new - 1]
    bad: list[tuple[int, int, bytes, bytes, list[bytes]]] = [
        (old - 1, new, r1, r2, proof),
        (old + 1, new, r1, r2, proof),
        (old, new * 2, r1, r2, proof),
        (old, new // 2 + 1, r1, r2, proof),
        (old, new, r2, r1, proof),
        (old, new, r1, r2, []),
        (old, new, r1, r2, proof[:-1]),
        (old, new, r1, r2, [*proof, r1]),
        (old, new, r1, r2, [proof[0], *proof]),
        (new, old, r2, r1, proof),
        (old, old, r1, r2, []),
        (old, old, r1, r1, proof),
        (0, new, EMPTY_ROOT, r2, proof),
    ]
    for args in bad:
        with pytest.raises(ProofError):
            verify_consistency(*args)
    verify_consistency(0, new, EMPTY_ROOT, r2, [])
    verify_consistency(new, new, r2, r2, [])


# -- properties for arbitrary sizes ----------------------------------------------------------------


@settings(max_examples=150, deadline=None)
@given(st.integers(min_value=1, max_value=300), st.data())
def test_inclusion_proofs_match_the_rfc_definition(size: int, data: st.DataObject) -> None:
    hashes = leaves(size)
    index = data.draw(st.integers(min_value=0, max_value=size - 1))
    proof = proof_from_leaves(inclusion_ranges(index, size), hashes)
    assert proof == ref_path(index, hashes)
    root = ref_mth(hashes)
    verify_inclusion(index, size, hashes[index], proof, root)
    with pytest.raises(ProofError):
        verify_inclusion(index, size, leaf_hash(b"not the leaf"), proof, root)


@settings(max_examples=150, deadline=None)
@given(st.integers(min_value=1, max_value=300), st.data())
def test_consistency_proofs_match_the_rfc_definition(new: int, data: st.DataObject) -> None:
    hashes = leaves(new)
    old = data.draw(st.integers(min_value=1, max_value=new))
    proof = proof_from_leaves(consistency_ranges(old, new), hashes)
    assert proof == ([] if old == new else ref_subproof(old, hashes, True))
    old_root, new_root = ref_mth(hashes[:old]), ref_mth(hashes)
    verify_consistency(old, new, old_root, new_root, proof)
    if old < new:
        with pytest.raises(ProofError):
            verify_consistency(old, new, leaf_hash(b"forged"), new_root, proof)


@settings(max_examples=80, deadline=None)
@given(st.integers(min_value=0, max_value=300), st.integers(min_value=0, max_value=300))
def test_compact_range_resumes_from_a_stored_frontier(first: int, more: int) -> None:
    hashes = leaves(first + more)
    whole = CompactRange(record_nodes=True)
    whole.extend(hashes[:first])
    resumed = CompactRange(first, whole.frontier(), record_nodes=True)
    resumed.extend(hashes[first:])
    assert resumed.root() == ref_mth(hashes)
    for level, index, digest in whole.completed + resumed.completed:
        assert digest == ref_mth(hashes[index << level : (index + 1) << level])


def test_perfect_subtrees_cover_the_range_left_to_right() -> None:
    assert perfect_subtrees(0, 0) == []
    assert perfect_subtrees(0, 13) == [(3, 0), (2, 2), (0, 12)]
    assert perfect_subtrees(8, 13) == [(2, 2), (0, 12)]
    assert perfect_subtrees(12, 13) == [(0, 12)]
    with pytest.raises(ValueError, match="not one an RFC 9162 tree contains"):
        perfect_subtrees(3, 7)


def test_out_of_range_requests_are_refused() -> None:
    with pytest.raises(ProofError):
        inclusion_ranges(5, 5)
    with pytest.raises(ProofError):
        consistency_ranges(6, 5)
    with pytest.raises(ProofError):
        verify_inclusion(0, 0, LEAVES[0], [], EMPTY_ROOT)
