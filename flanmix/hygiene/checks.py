"""The build's side of hygiene: what the render step checks rows for, the eval sets' n-gram
index it checks them against, and the evidence and counts that go into the output."""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from flanmix.hygiene.evalsets import load_eval_texts
from flanmix.hygiene.ngrams import NgramIndex, build_index
from flanmix.plan.selection import Selection
from flanmix.spec.load import Hygiene

INDEX_DIR = "_hygiene"  # in the staging folder, removed before the output is published


@dataclass(frozen=True)
class Checks:
    """What the render step checks each rendered row for."""

    dedup: str = "none"  # none | task | mixture: the scope of the rows' dedup keys
    index: str | None = None  # the saved NgramIndex of the eval sets, if any
    action: str = "drop"  # drop | flag contaminated rows


def prepare_checks(
    hygiene: Hygiene,
    staging: str,
    cache: Path | str | None,
    progress: Callable[[str], None] = lambda _: None,
) -> tuple[Checks, dict[str, Any]]:
    """Index the eval sets (in the driver: they are small next to the training data) and
    save the index where workers read it. Returns the checks and the manifest's record."""
    settings = hygiene.decontamination
    info: dict[str, Any] = {"dedup": hygiene.dedup}
    if not hygiene.eval_sets:
        return Checks(hygiene.dedup), info
    for eval_set in hygiene.eval_sets:
        if eval_set.note:
            progress(f"note: {eval_set.note}")
    progress(f"indexing {settings.n}-grams of eval set(s) {', '.join(eval_set_names(hygiene))}")
    texts = load_eval_texts(hygiene.eval_sets, cache, progress)
    index = build_index(texts, settings.n, settings.min_words)
    digest = index_digest(index)
    # Named by its content: workers cache indexes by path, and a rebuild of the same output
    # in one process has the same staging folder.
    path = f"{staging}/{INDEX_DIR}/ngrams-{digest[:16]}.npz"
    index.save(path)
    progress(f"n-gram index: {len(index):,} n-grams, {index.nbytes / 2**20:.1f} MB per worker")
    info["decontamination"] = {
        **settings.model_dump(),
        "eval_sets": [
            {
                "name": s.name,
                "location": s.source.source.location,
                "fields": list(s.fields) if s.fields else None,
                "items": len(index.item_ids[index.set_names.index(s.name)])
                if s.name in index.set_names
                else 0,
                **({"note": s.note} if s.note else {}),
            }
            for s in hygiene.eval_sets
        ],
        "ngrams": len(index),
        "index_bytes": index.nbytes,
        "index_sha256": digest,
    }
    return Checks(hygiene.dedup, path, settings.action), info


def index_digest(index: NgramIndex) -> str:
    """Everything the index holds, n-grams and the names of sets and items alike."""
    h = hashlib.sha256()
    for array in (index.hashes, index.sets, index.items):
        h.update(array.tobytes())
    h.update(json.dumps([index.n, index.lengths, index.set_names, index.item_ids]).encode())
    return h.hexdigest()


def eval_set_names(hygiene: Hygiene) -> list[str]:
    return [s.name for s in hygiene.eval_sets]


def written_evidence(
    matches: list[dict[str, Any]],
    selections: Mapping[tuple[str, str], Selection | None],
    excluded: Mapping[tuple[str, str], Any],
) -> list[dict[str, Any]]:
    """The decontamination.jsonl records, sorted: every dropped row's, and of the flagged
    rows those that were written (a flagged row over its quota is not in the output). Each
    keeps its row's `_key` (rank hash, position), which is not written out."""
    out = []
    excluded = {leaf: set(np.asarray(p).tolist()) for leaf, p in excluded.items()}
    for m in matches:
        record = dict(m)
        if m["action"] == "flagged":
            leaf = (m["task"], m["template_type"])
            sel = selections.get(leaf)
            rank, position = m["_key"]
            if sel is None or not sel.copies((rank, position)) or position in excluded[leaf]:
                continue
        out.append(record)
    return sorted(
        out,
        key=lambda r: [r[k] for k in ("task", "template_type", "example_id", "_key", "eval_set")],
    )


def contamination_counts(evidence: list[dict[str, Any]]) -> dict[str, dict[str, int]]:
    """Rows per task and eval set, for stats.json and the report."""
    counts: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for r in evidence:
        counts[r["task"]][r["eval_set"]] += 1
    return {task: dict(sorted(sets.items())) for task, sets in sorted(counts.items())}
