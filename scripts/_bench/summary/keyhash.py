"""64-bit hashes of text item keys that are the same in every process and every environment.

Why not Python's hash(): it changes with PYTHONHASHSEED, and the items' order follows their hashes (per-input
means, sums, bootstrap draws), so the same command gave different last digits, and once a p99 end or none
(trial O). Why not pandas' hash_array: the scripts do not require pandas (the docs' bare `python` has none), and
a report must not depend on which environment read the file.

FNV-1a over each key's code points, vectorised in numpy one character position at a time (about 0.35 s per
million keys of 20 characters; integer ids are not hashed at all), with the key's length mixed in last so that
keys differing only by trailing NUL characters (which numpy's fixed-width text drops) stay apart. Keys longer
than LONG characters are hashed one by one with BLAKE2b instead, so that one long key does not widen a whole
chunk's array."""

from __future__ import annotations

import hashlib

import numpy as np

FNV_OFFSET = np.uint64(0xCBF29CE484222325)
FNV_PRIME = np.uint64(0x100000001B3)
LONG = 64  # characters


def stable_hashes(values) -> np.ndarray:
    """One int64 per value (text; None hashes as '', rows without a key are flagged apart by the scan)."""
    texts = ["" if v is None else str(v) for v in values]
    lengths = np.fromiter(map(len, texts), dtype=np.int64, count=len(texts))
    out = np.empty(len(texts), dtype=np.uint64)
    short = lengths <= LONG
    if short.all():
        out[:] = _fnv(np.array(texts, dtype=str), lengths)
    else:
        at = np.flatnonzero(short)
        out[at] = _fnv(np.array([texts[i] for i in at], dtype=str), lengths[at])
        for i in np.flatnonzero(~short):
            digest = hashlib.blake2b(texts[i].encode("utf-8", "surrogatepass"), digest_size=8).digest()
            out[i] = int.from_bytes(digest, "little")
    return out.view(np.int64)


def _fnv(fixed: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    n = len(fixed)
    if n == 0:
        return np.zeros(0, dtype=np.uint64)
    width = max(1, fixed.dtype.itemsize // 4)
    points = fixed.view(np.uint32).reshape(n, width) if fixed.dtype.itemsize else np.zeros((n, 1), np.uint32)
    h = np.full(n, FNV_OFFSET, dtype=np.uint64)
    with np.errstate(over="ignore"):  # FNV multiplies modulo 2^64 on purpose
        for j in range(width):
            # only a key's own characters: the padding to the chunk's longest key must not count, or one key
            # would hash differently beside a longer one (a slice, a chunk)
            h = np.where(lengths > j, (h ^ points[:, j]) * FNV_PRIME, h)
        h ^= lengths.astype(np.uint64)
        h *= FNV_PRIME
    return h
