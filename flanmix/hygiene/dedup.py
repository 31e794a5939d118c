"""Exact deduplication: rendered rows compared on a normalised key.

Two rows are duplicates when their `inputs` and their `targets` are equal once case-folded
and with runs of whitespace collapsed. Within a scope (a task, or the whole mixture) the row
with the smallest selection hash is kept; the others are dropped as `duplicate` before quotas
are filled (see pipeline/transforms.py: find_duplicates).
"""

from __future__ import annotations

from flanmix.hashing import stable_hash

SCOPES = ("none", "task", "mixture")


def normal_text(text: str) -> str:
    return " ".join(text.casefold().split())


def dedup_key(scope: str, task: str, inputs: str, targets: str) -> int:
    """A 64-bit key equal for duplicates in the same scope (`task`: same task too)."""
    where = task if scope == "task" else ""
    return stable_hash("dedup", where, normal_text(inputs), normal_text(targets))
