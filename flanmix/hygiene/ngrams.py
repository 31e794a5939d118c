"""N-gram decontamination: an index of the eval sets' word n-grams as 64-bit hashes, and a
batch matcher that finds, for each training text, the eval items it shares an n-gram with.

Words are normalised as GPT-3's and datatrove's decontaminators do: lower-cased, split on
anything that is not a letter or a digit. An n-gram is n consecutive words of one text. An
eval text with fewer than n words (but at least `min_words`) is indexed whole, so a short
question still matches a training row that contains it.

Hashing is vectorised with numpy (polynomial hashes mod 2^64, made from prefix sums, then a
splitmix64 finaliser) over a whole batch of texts at once: a Python call per word would cost
more than rendering the row. Hashes are stable across processes and machines, so the index
built by the driver is valid in every worker.
"""

from __future__ import annotations

import io
import json
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from flanmix.publish.parquet import store_bytes
from flanmix.sources.files import open_path

_M = 1 << 64
_BYTE_BASE = 0x100000001B3  # odd, so invertible mod 2^64
_WORD_BASE = 0x9E3779B97F4A7C15


class _WordChars(dict[int, str]):
    """str.translate table: letters, digits and combining marks (which Devanagari, Bengali
    or Telugu words are full of) stay; every other character becomes a space."""

    def __missing__(self, code: int) -> str:
        char = chr(code)
        kept = char.isalnum() or unicodedata.category(char).startswith("M")
        self[code] = char if kept else " "
        return self[code]


_WORD_CHARS = _WordChars()
# ASCII bytes: lower-cased letters and digits stay, everything else becomes a separator (0).
# Bytes >= 0x80 stay: non-ASCII texts are normalised in Python first (see _encode).
_TABLE = bytes(
    (ord(chr(c).lower()) if chr(c).isalnum() else 0) if c < 0x80 else c for c in range(256)
)


def normal_words(text: str) -> list[str]:
    """The words n-grams are made of: NFKC-normalised (so composed and decomposed accents
    agree), case-folded, split on anything but letters, digits and combining marks. Scripts
    written without spaces (Chinese, Japanese, Thai) give one word per run of text, so they
    match only whole runs."""
    return unicodedata.normalize("NFKC", text).casefold().translate(_WORD_CHARS).split()


def _encode(text: str) -> bytes:
    """A text's bytes with ASCII separators left for the byte table; a non-ASCII text is
    reduced to its normalised words first (Unicode letters, case-folded)."""
    if text.isascii():
        return text.encode()
    return " ".join(normal_words(text)).encode()


@lru_cache(maxsize=4)  # two bases and their inverses, at the size of the last batch
def _powers(base: int, n: int) -> np.ndarray:
    out = np.empty(n, np.uint64)
    out[0] = 1
    if n > 1:
        out[1:] = np.cumprod(np.full(n - 1, base, np.uint64))  # wraps mod 2^64
    return out


def _power_table(base: int, n: int) -> np.ndarray:
    """base^0 … base^(n-1) mod 2^64, from a cached table grown in powers of two."""
    size = 1 << max(16, (n - 1).bit_length())
    return _powers(base, size)[:n]


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser: spreads polynomial hashes over all 64 bits."""
    x = x ^ (x >> np.uint64(30))
    x = x * np.uint64(0xBF58476D1CE4E5B9)
    x = x ^ (x >> np.uint64(27))
    x = x * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


@dataclass(frozen=True)
class Words:
    """The normalised words of a batch of texts, hashed."""

    hashes: np.ndarray  # uint64, one per word
    text: np.ndarray  # int64: the text each word belongs to
    starts: np.ndarray  # byte offsets of each word in `data`
    ends: np.ndarray
    data: bytes  # the texts' normalised bytes, NUL-separated
    prefix: np.ndarray  # prefix sums of hashes * WORD_BASE^i, for any gram length

    def grams(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(hash, first word) of every k-word gram that lies inside one text."""
        n = len(self.hashes)
        if n < k:
            return np.zeros(0, np.uint64), np.zeros(0, np.int64)
        t = self.prefix
        inverse = _power_table(pow(_WORD_BASE, -1, _M), n - k + 1)
        hashes = _mix((t[k:] - t[: n - k + 1]) * inverse + np.uint64(k))
        first = np.flatnonzero(self.text[: n - k + 1] == self.text[k - 1 :])
        return hashes[first], first

    def gram_text(self, first: int, k: int) -> str:
        text = self.data[self.starts[first] : self.ends[first + k - 1]].decode()
        return " ".join(text.replace("\x00", " ").split())


def hash_words(texts: Sequence[str]) -> Words:
    """Hash every normalised word of the texts at once."""
    encoded = [_encode(t) for t in texts]
    data = b"\x00".join(encoded).translate(_TABLE)
    low = np.frombuffer(data, np.uint8)
    edge = np.diff((low != 0).view(np.int8), prepend=np.int8(0), append=np.int8(0))
    starts, ends = np.flatnonzero(edge == 1), np.flatnonzero(edge == -1)
    prefix = np.zeros(len(low) + 1, np.uint64)
    np.cumsum((low + np.uint64(1)) * _power_table(_BYTE_BASE, len(low)), out=prefix[1:])
    inverse = _power_table(pow(_BYTE_BASE, -1, _M), len(low))
    hashes = _mix((prefix[ends] - prefix[starts]) * inverse[starts])
    bounds = np.cumsum(np.fromiter((len(e) + 1 for e in encoded), np.int64, len(encoded)))
    text = np.searchsorted(bounds, starts, side="right")
    word_prefix = np.zeros(len(hashes) + 1, np.uint64)
    np.cumsum(hashes * _power_table(_WORD_BASE, len(hashes)), out=word_prefix[1:])
    return Words(hashes, text, starts, ends, data, word_prefix)


@dataclass(frozen=True)
class Match:
    """A training text shares `grams` n-grams with eval set `eval_set`; `item` holds the
    first of them, `gram`."""

    eval_set: str
    item: str
    gram: str
    grams: int


_BITS_PER_ENTRY = 16  # the prefilter bitmap: ~1/16 of absent grams reach the binary search


@dataclass(frozen=True)
class NgramIndex:
    """Sorted unique (hash, eval set) pairs with the first eval item holding each."""

    n: int
    min_words: int
    lengths: tuple[int, ...]  # gram lengths present: n, and the word counts of short texts
    hashes: np.ndarray  # uint64, ascending
    sets: np.ndarray  # uint16: index into set_names
    items: np.ndarray  # uint32: index into item_ids[set]
    set_names: tuple[str, ...]
    item_ids: tuple[tuple[str, ...], ...]

    @property
    def nbytes(self) -> int:
        """Bytes the index takes in a worker, its prefilter bitmap included."""
        ids = sum(len(i) + 49 for items in self.item_ids for i in items)  # str objects
        return self.hashes.nbytes + self.sets.nbytes + self.items.nbytes + self._bitmap.nbytes + ids

    def __len__(self) -> int:
        return len(self.hashes)

    @property
    def _shift(self) -> np.uint64:
        bits = max(10, min(32, (max(1, len(self.hashes)) * _BITS_PER_ENTRY - 1).bit_length()))
        return np.uint64(64 - bits)

    @property
    def _bitmap(self) -> np.ndarray:
        """One bit per slot of the hashes' top bits, packed: a cheap "surely absent" test."""
        cached: np.ndarray | None = self.__dict__.get("_bitmap_cache")
        if cached is None:
            bits = 64 - int(self._shift)
            slots = np.zeros(1 << bits, bool)
            slots[self.hashes >> self._shift] = True
            cached = np.packbits(slots, bitorder="little")
            object.__setattr__(self, "_bitmap_cache", cached)
        return cached

    @property
    def remembered(self) -> dict[str, list[Match]]:
        """Matches of texts that recur (few-shot exemplars), kept with this index, so that
        they are never taken for another index's."""
        cached: dict[str, list[Match]] | None = self.__dict__.get("_remembered")
        if cached is None:
            cached = {}
            object.__setattr__(self, "_remembered", cached)
        return cached

    def _maybe(self, hashes: np.ndarray) -> np.ndarray:
        slot = hashes >> self._shift
        byte = self._bitmap[slot >> np.uint64(3)]
        return np.flatnonzero((byte >> (slot & np.uint64(7)).astype(np.uint8)) & 1)

    def match(self, texts: Sequence[str]) -> list[list[Match]]:
        """Per text, one Match per eval set it shares a gram with (sorted by eval set)."""
        found: list[dict[int, list[int]]] = [{} for _ in texts]  # text -> set -> [n, word, k, i]
        if not len(self.hashes) or not texts:
            return [[] for _ in texts]
        words = hash_words(texts)
        for k in self.lengths:
            hashes, first = words.grams(k)
            maybe = self._maybe(hashes)
            if not len(maybe):
                continue
            # Sorted needles: binary searches that walk the index in order, 6x faster.
            order = maybe[np.argsort(hashes[maybe])]
            hashes, first = hashes[order], first[order]
            lo = np.searchsorted(self.hashes, hashes, side="left")
            hi = np.searchsorted(self.hashes, hashes, side="right")
            for j in np.flatnonzero(hi > lo).tolist():
                word = int(first[j])
                hits = found[int(words.text[word])]
                for entry in range(int(lo[j]), int(hi[j])):
                    s = int(self.sets[entry])
                    seen = hits.get(s)
                    if seen is None:
                        hits[s] = [1, word, k, entry]
                        continue
                    seen[0] += 1
                    if word < seen[1]:
                        seen[1:] = [word, k, entry]
        return [
            [
                Match(
                    self.set_names[s],
                    self.item_ids[s][int(self.items[entry])],
                    words.gram_text(word, k),
                    count,
                )
                for s, (count, word, k, entry) in sorted(
                    hits.items(), key=lambda kv: self.set_names[kv[0]]
                )
            ]
            for hits in found
        ]

    def save(self, path: str) -> None:
        meta = {
            "n": self.n,
            "min_words": self.min_words,
            "lengths": list(self.lengths),
            "set_names": list(self.set_names),
            "item_ids": [list(i) for i in self.item_ids],
        }
        buf = io.BytesIO()
        np.savez(
            buf,
            hashes=self.hashes,
            sets=self.sets,
            items=self.items,
            meta=np.frombuffer(json.dumps(meta).encode(), np.uint8),
        )
        store_bytes(path, buf.getvalue())

    @classmethod
    def load(cls, path: str) -> NgramIndex:
        with open_path(path, "rb") as f:
            arrays = np.load(io.BytesIO(f.read()))
        meta = json.loads(arrays["meta"].tobytes())
        return cls(
            meta["n"],
            meta["min_words"],
            tuple(meta["lengths"]),
            arrays["hashes"],
            arrays["sets"],
            arrays["items"],
            tuple(meta["set_names"]),
            tuple(tuple(i) for i in meta["item_ids"]),
        )


BATCH_BYTES = 1 << 20  # text hashed per numpy pass: its arrays take ~50 MB


def build_index(
    texts: Iterable[tuple[str, str, str]], n: int = 13, min_words: int = 8
) -> NgramIndex:
    """The index of (eval set, item id, text) triples: every n-gram of each text with at
    least n words; texts of `min_words` to n-1 words are indexed whole."""
    names: dict[str, int] = {}
    items: list[dict[str, int]] = []
    parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    lengths = {n}
    batch: list[tuple[int, int, str]] = []
    size = 0

    def flush() -> None:
        words = hash_words([t for _, _, t in batch])
        set_of = np.array([s for s, _, _ in batch], np.uint16)
        item_of = np.array([i for _, i, _ in batch], np.uint32)
        hashes, first = words.grams(n)
        text = words.text[first]
        parts.append((hashes, set_of[text], item_of[text]))
        counts = np.bincount(words.text, minlength=len(batch))
        short = np.flatnonzero((counts >= min_words) & (counts < n))
        starts = np.searchsorted(words.text, short)  # each short text's first word
        for k in np.unique(counts[short]).tolist():  # one pass per length, not per text
            lengths.add(k)
            texts, first_word = short[counts[short] == k], starts[counts[short] == k]
            g, f = words.grams(k)
            parts.append((g[np.searchsorted(f, first_word)], set_of[texts], item_of[texts]))
        batch.clear()

    for name, item, text in texts:
        s = names.setdefault(name, len(names))
        if s == len(items):
            items.append({})
        i = items[s].setdefault(item, len(items[s]))
        batch.append((s, i, text))
        size += len(text)
        if size >= BATCH_BYTES:
            flush()
            size = 0
    if batch:
        flush()
    if parts:
        hashes = np.concatenate([p[0] for p in parts])
        sets = np.concatenate([p[1] for p in parts])
        item_idx = np.concatenate([p[2] for p in parts])
    else:
        hashes, sets, item_idx = (np.zeros(0, t) for t in (np.uint64, np.uint16, np.uint32))
    # Unique (hash, set), keeping the first item: sort by hash, set, then arrival.
    order = np.lexsort((np.arange(len(hashes)), sets, hashes))
    hashes, sets, item_idx = hashes[order], sets[order], item_idx[order]
    keep = np.ones(len(hashes), bool)
    keep[1:] = (hashes[1:] != hashes[:-1]) | (sets[1:] != sets[:-1])
    return NgramIndex(
        n,
        min_words,
        tuple(sorted(lengths)),
        hashes[keep],
        sets[keep],
        item_idx[keep],
        tuple(names),
        tuple(tuple(i) for i in items),
    )
