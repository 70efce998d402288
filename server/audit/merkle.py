"""RFC 9162 (Certificate Transparency v2, §2.1) Merkle tree hashing and proofs — pure functions.

Theory of operation
-------------------
The tree over n leaves D[0:n] is the RFC's MTH: MTH({}) = SHA-256(""), a leaf is
SHA-256(0x00 || d), and for n > 1 with k the largest power of two below n,
MTH(D[0:n]) = SHA-256(0x01 || MTH(D[0:k]) || MTH(D[k:n])). The 0x00/0x01 prefixes keep a leaf from
ever being read as an interior node (second-preimage resistance).

Every hash a proof needs is the MTH of some range D[a:b]; such a range always splits, left to right,
into *perfect* subtrees (power-of-two sizes, decreasing), each named by (level, index) = the node
covering leaves [index·2^level, (index+1)·2^level). The storage layer keeps those nodes, so this
module says *which* ranges a proof needs (`inclusion_ranges`, `consistency_ranges`,
`perfect_subtrees`) and the caller fetches hashes in one query and folds them (`fold_perfect`).
Verification follows RFC 9162 §2.1.3.2 and §2.1.4.2 step by step.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence

__all__ = [
    "EMPTY_ROOT",
    "CompactRange",
    "ProofError",
    "consistency_ranges",
    "fold_perfect",
    "inclusion_ranges",
    "leaf_hash",
    "node_hash",
    "perfect_subtrees",
    "root_from_inclusion_proof",
    "root_of",
    "verify_consistency",
    "verify_inclusion",
]

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()
_LEAF_PREFIX = b"\x00"
_NODE_PREFIX = b"\x01"

Range = tuple[int, int]
Node = tuple[int, int]  # (level, index)


class ProofError(ValueError):
    """A proof does not verify, or its inputs are out of range."""


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(_LEAF_PREFIX + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(_NODE_PREFIX + left + right).digest()


def _split(size: int) -> int:
    """The largest power of two strictly smaller than `size` (size ≥ 2)."""
    return 1 << ((size - 1).bit_length() - 1)


class CompactRange:
    """The perfect subtrees covering D[0:n], kept while leaves are appended one at a time.

    Appending is amortised O(1) hashing; `root()` folds at most log2(n) hashes. `completed` collects the
    interior nodes finished by the appends (for storage) when `record_nodes` is set.
    """

    __slots__ = ("_stack", "completed", "record_nodes", "size")

    def __init__(self, size: int = 0, frontier: Sequence[bytes] = (), *, record_nodes: bool = False) -> None:
        nodes = perfect_subtrees(0, size)
        if len(nodes) != len(frontier):
            raise ValueError(f"a tree of size {size} needs {len(nodes)} frontier hashes, got {len(frontier)}")
        self._stack: list[tuple[int, int, bytes]] = [
            (level, index, digest) for (level, index), digest in zip(nodes, frontier, strict=True)
        ]
        self.size = size
        self.record_nodes = record_nodes
        self.completed: list[tuple[int, int, bytes]] = []

    def append(self, digest: bytes) -> None:
        """Add the next leaf hash."""
        stack = self._stack
        level, index = 0, self.size
        self.size += 1
        while stack and stack[-1][0] == level:
            _, left_index, left = stack.pop()
            digest = hashlib.sha256(_NODE_PREFIX + left + digest).digest()
            level, index = level + 1, left_index >> 1
            if self.record_nodes:
                self.completed.append((level, index, digest))
        stack.append((level, index, digest))

    def extend(self, digests: Iterable[bytes]) -> None:
        for digest in digests:
            self.append(digest)

    def root(self) -> bytes:
        return fold_perfect([digest for _, _, digest in self._stack])

    def frontier(self) -> list[bytes]:
        return [digest for _, _, digest in self._stack]


def root_of(leaf_hashes: Iterable[bytes]) -> bytes:
    """MTH over the given leaf hashes (streaming; memory O(log n))."""
    tree = CompactRange()
    tree.extend(leaf_hashes)
    return tree.root()


def perfect_subtrees(start: int, end: int) -> list[Node]:
    """The perfect subtrees (level, index), left to right, whose fold is MTH(D[start:end]).

    Follows the RFC split exactly: the left part of D[start:end] is the perfect subtree of size k, the
    right part recurses. Valid for every range that occurs in an RFC 9162 proof.
    """
    if not 0 <= start <= end:
        raise ValueError(f"bad range [{start}, {end})")
    nodes: list[Node] = []
    while end - start > 0:
        size = end - start
        if size & (size - 1) == 0:  # power of two: one node, if aligned
            level = size.bit_length() - 1
            if start % size == 0:
                nodes.append((level, start >> level))
                break
        k = _split(size) if size > 1 else 1
        level = k.bit_length() - 1
        if start % k != 0:
            raise ValueError(f"range [{start}, {end}) is not one an RFC 9162 tree contains")
        nodes.append((level, start >> level))
        start += k
    return nodes


def fold_perfect(hashes: Sequence[bytes]) -> bytes:
    """MTH of a range from its perfect subtrees' hashes (left to right): h1 ⊕ (h2 ⊕ (… ⊕ hm))."""
    if not hashes:
        return EMPTY_ROOT
    digest = hashes[-1]
    for left in reversed(hashes[:-1]):
        digest = hashlib.sha256(_NODE_PREFIX + left + digest).digest()
    return digest


def inclusion_ranges(index: int, size: int) -> list[Range]:
    """The ranges whose MTHs form PATH(index, D[0:size]) (RFC 9162 §2.1.3.1), in proof order."""
    if not 0 <= index < size:
        raise ProofError(f"leaf {index} is not in a tree of size {size}")
    ranges: list[Range] = []
    start, end = 0, size
    while end - start > 1:
        k = _split(end - start)
        if index - start < k:
            ranges.append((start + k, end))
            end = start + k
        else:
            ranges.append((start, start + k))
            start += k
    ranges.reverse()  # the RFC lists the sibling nearest the leaf first
    return ranges


def consistency_ranges(old_size: int, new_size: int) -> list[Range]:
    """The ranges whose MTHs form PROOF(old, D[0:new]) (RFC 9162 §2.1.4.1), in proof order."""
    if not 0 <= old_size <= new_size:
        raise ProofError(f"no consistency proof from size {old_size} to {new_size}")
    if old_size in (0, new_size):
        return []
    ranges: list[Range] = []
    start, end, whole_old_tree = 0, new_size, True
    while True:
        if old_size == end:
            # SUBPROOF(m, D[m], b): nothing if the old root is D[0:m] itself, else this subtree's hash.
            if not whole_old_tree:
                ranges.append((start, end))
            break
        k = _split(end - start)
        if old_size - start <= k:
            ranges.append((start + k, end))
            end = start + k
        else:
            ranges.append((start, start + k))
            start += k
            whole_old_tree = False
    ranges.reverse()
    return ranges


def _check_hash(name: str, digest: bytes) -> None:
    if len(digest) != HASH_SIZE:
        raise ProofError(f"{name} is {len(digest)} bytes, not {HASH_SIZE}")


def root_from_inclusion_proof(index: int, size: int, leaf: bytes, proof: Sequence[bytes]) -> bytes:
    """The root implied by an inclusion proof for the leaf *hash* `leaf` (RFC 9162 §2.1.3.2)."""
    if not 0 <= index < size:
        raise ProofError(f"leaf {index} is not in a tree of size {size}")
    _check_hash("leaf hash", leaf)
    fn, sn = index, size - 1
    r = leaf
    for position, p in enumerate(proof):
        _check_hash(f"proof[{position}]", p)
        if sn == 0:
            raise ProofError("inclusion proof is too long")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while fn & 1 == 0 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("inclusion proof is too short")
    return r


def verify_inclusion(index: int, size: int, leaf: bytes, proof: Sequence[bytes], root: bytes) -> None:
    """Raise `ProofError` unless `proof` shows leaf hash `leaf` at `index` in the tree `root` of `size`."""
    _check_hash("root", root)
    if root_from_inclusion_proof(index, size, leaf, proof) != root:
        raise ProofError(f"inclusion proof for leaf {index} does not lead to the tree root")


def verify_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> None:
    """Raise `ProofError` unless `proof` shows tree (`old_size`, `old_root`) is a prefix of the new one.

    RFC 9162 §2.1.4.2, including its special cases for equal sizes; an empty old tree is consistent
    with every tree (nothing to prove) but only with an empty proof.
    """
    _check_hash("old root", old_root)
    _check_hash("new root", new_root)
    for position, p in enumerate(proof):
        _check_hash(f"proof[{position}]", p)
    if not 0 <= old_size <= new_size:
        raise ProofError(f"tree size went backwards: {old_size} → {new_size}")
    if old_size == new_size:
        if proof:
            raise ProofError("equal sizes need an empty consistency proof")
        if old_root != new_root:
            raise ProofError("equal sizes but different roots")
        return
    if old_size == 0:
        if proof:
            raise ProofError("consistency from the empty tree needs an empty proof")
        return
    if not proof:
        raise ProofError("consistency proof is empty")
    path = list(proof)
    # Step 1: if old_size is an exact power of two, the old root itself starts the path.
    if old_size & (old_size - 1) == 0:
        path.insert(0, old_root)
    fn, sn = old_size - 1, new_size - 1
    # Step 3: shift right until the lowest bit of fn is clear.
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise ProofError("consistency proof is too long")
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while fn & 1 == 0 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("consistency proof is too short")
    if fr != old_root:
        raise ProofError("consistency proof does not lead to the old root")
    if sr != new_root:
        raise ProofError("consistency proof does not lead to the new root")
