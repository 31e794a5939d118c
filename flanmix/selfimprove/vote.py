"""Self-consistency: the majority answer of a question's sampled paths, its confidence, and
the paths that reached it.

Confidence is the winner's share of *all* the question's samples: a completion without an
extractable answer votes for nothing, so 2 agreeing answers out of 32 samples are 6%
confident, not 100%. A tie for first place keeps no answer (`tie`): no deterministic rule
could tell which of two equally voted answers the model believes, and the paper keeps only
confident majorities anyway.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from flanmix.selfimprove.answers import extract

# Why a question keeps no paths.
NO_SAMPLES = "no_samples"
NO_ANSWER = "no_answer"  # no sample had an extractable answer
TIE = "tie"
BELOW_THRESHOLD = "below_threshold"
NO_RATIONALE = "no_rationale"  # the winner's paths all stated the answer without reasoning


@dataclass(frozen=True)
class Vote:
    """One question's outcome."""

    samples: int
    failures: int  # samples without an extractable answer
    answer: str | None  # the winner's normal form
    shown: str  # the winner as the first path that reached it wrote it
    confidence: float
    paths: tuple[str, ...]  # distinct rationales that reached the winner, in sample order
    dropped: str | None  # why nothing is kept, or None


def majority(
    completions: Sequence[str],
    pattern: re.Pattern[str],
    kind: str,
    threshold: float,
    max_paths: int | None = None,
) -> Vote:
    """Vote over one question's completions; keep the winner's paths when its confidence is
    at least `threshold`."""
    extracted = [extract(c, pattern, kind) for c in completions]
    valid = [e for e in extracted if e is not None and e.normal is not None]
    failures = len(completions) - len(valid)
    if not completions:
        return Vote(0, 0, None, "", 0.0, (), NO_SAMPLES)
    if not valid:
        return Vote(len(completions), failures, None, "", 0.0, (), NO_ANSWER)
    counts = Counter(e.normal for e in valid).most_common()
    (answer, votes), runner_up = counts[0], counts[1][1] if len(counts) > 1 else 0
    confidence = votes / len(completions)
    if votes == runner_up:
        return Vote(len(completions), failures, None, "", confidence, (), TIE)
    winners = [e for e in valid if e.normal == answer]
    shown = winners[0].raw
    if confidence < threshold:
        return Vote(len(completions), failures, answer, shown, confidence, (), BELOW_THRESHOLD)
    seen: dict[str, str] = {}
    for e in winners:  # distinct rationales, compared with whitespace collapsed
        if e.rationale.strip():
            seen.setdefault(" ".join(e.rationale.split()), e.rationale)
    paths = tuple(seen.values())[:max_paths]
    dropped = None if paths else NO_RATIONALE
    return Vote(len(completions), failures, answer, shown, confidence, paths, dropped)
