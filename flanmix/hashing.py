"""Stateless, process-independent hashing: the only source of randomness in flanmix.

Python's `hash()` is salted per process and `random` depends on call order, so every
choice (template, selection, shard) is derived from a keyed blake2b digest instead.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import MutableSequence, Sequence
from typing import Any

_SEP = "\x1f"  # unit separator: cannot appear in YAML keys and rarely in ids


def stable_hash(*parts: object) -> int:
    """A 64-bit unsigned integer hash of the parts' string forms, identical on every machine."""
    data = _SEP.join(str(p) for p in parts).encode("utf-8")
    return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "big")


def seeded_rng(*parts: object) -> HashRandom:
    """The draws for one purpose, named by its parts (never the global RNG)."""
    return HashRandom(*parts)


class HashRandom:
    """A stream of 64-bit draws: blake2b digests of the parts and a block counter, eight
    draws per digest. A stateless hash like stable_hash, and much cheaper to start than a
    `random.Random`, whose Mersenne Twister takes about 4 µs to seed (once per few-shot row
    and per template block). randrange(n) is a draw modulo n: its bias, below n / 2**64, is
    negligible for the sequence lengths drawn from."""

    __slots__ = ("_block", "_draws", "_key")

    def __init__(self, *parts: object) -> None:
        self._key = _SEP.join(map(str, parts)).encode("utf-8") + b"\x1e"
        self._block = 0
        self._draws: list[int] = []

    def _draw(self) -> int:
        if not self._draws:
            data = self._key + str(self._block).encode()
            digest = hashlib.blake2b(data, digest_size=64).digest()
            self._draws = list(struct.unpack("<8Q", digest))
            self._block += 1
        return self._draws.pop()

    def randrange(self, start: int, stop: int | None = None) -> int:
        if stop is None:
            start, stop = 0, start
        if stop <= start:
            raise ValueError(f"empty range for randrange({start}, {stop})")
        return start + self._draw() % (stop - start)

    def choice(self, seq: Sequence[Any]) -> Any:
        if not len(seq):
            raise IndexError("cannot choose from an empty sequence")
        return seq[self._draw() % len(seq)]

    def shuffle(self, items: MutableSequence[Any]) -> None:
        """Fisher-Yates, in place."""
        for i in range(len(items) - 1, 0, -1):
            j = self._draw() % (i + 1)
            items[i], items[j] = items[j], items[i]


def file_sha256(path: str, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()
