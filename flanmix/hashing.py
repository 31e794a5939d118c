"""Stateless, process-independent hashing: the only source of randomness in flanmix.

Python's `hash()` is salted per process and `random` depends on call order, so every
choice (template, selection, shard) is derived from a keyed blake2b digest instead.
"""

from __future__ import annotations

import hashlib
import random

_SEP = "\x1f"  # unit separator: cannot appear in YAML keys and rarely in ids


def stable_hash(*parts: object) -> int:
    """A 64-bit unsigned integer hash of the parts' string forms, identical on every machine."""
    data = _SEP.join(str(p) for p in parts).encode("utf-8")
    return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "big")


def seeded_rng(*parts: object) -> random.Random:
    """A private `random.Random` seeded from the parts (never the global RNG)."""
    return random.Random(stable_hash(*parts))


def file_sha256(path: str, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()
