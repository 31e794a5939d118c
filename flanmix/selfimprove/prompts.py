"""Sampling requests: one few-shot chain-of-thought prompt per unlabeled question, or
few-shot "write a new question" prompts, as rows any inference engine can consume.

A request row: `request_id`, `prompt`, the question it asks about (`question_id`,
`question`), and suggested sampling settings (`n`, `temperature`, `max_tokens`, `stop`):
the paper samples 32 reasoning paths per question at temperature 0.7.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from flanmix.errors import FlanmixError
from flanmix.hashing import stable_hash
from flanmix.hygiene.dedup import normal_text

ANSWER_LEAD = "The answer is"
QUESTION_STOP = "\n\nQ:"  # a model that goes on to invent the next exemplar stops here


@dataclass(frozen=True)
class Exemplar:
    """A worked example: question, reasoning, answer."""

    question: str
    rationale: str
    answer: str


@dataclass(frozen=True)
class Sampling:
    n: int = 32
    temperature: float = 0.7
    max_tokens: int = 512


def cot_block(e: Exemplar) -> str:
    return f"Q: {e.question}\nA: {e.rationale} {ANSWER_LEAD} {e.answer}."


def cot_prompt(question: str, exemplars: Iterable[Exemplar]) -> str:
    """Few-shot chain of thought, ending where the model starts reasoning."""
    blocks = [cot_block(e) for e in exemplars]
    return "\n\n".join([*blocks, f"Q: {question}\nA:"])


def answer_requests(
    name: str,
    questions: Iterable[tuple[str, str]],
    exemplars: list[Exemplar],
    shots: int,
    sampling: Sampling,
) -> Iterator[dict[str, Any]]:
    """One request per (question id, question). The exemplars are the first `shots` of the
    set (a fixed prompt, as in the paper), skipping one that is the question itself. A
    question id that repeats is an error: request ids must be unique."""
    seen: set[str] = set()
    for question_id, question in questions:
        if question_id in seen:
            raise FlanmixError(
                f"question id '{question_id}' repeats: request ids would not be unique; give "
                "--id-field a field whose values are unique (or leave it out: row numbers)"
            )
        seen.add(question_id)
        mine = [e for e in exemplars if normal_text(e.question) != normal_text(question)]
        yield {
            "request_id": f"{name}/{question_id}",
            "question_id": question_id,
            "question": question,
            "prompt": cot_prompt(question, mine[:shots]),
            "n": sampling.n,
            "temperature": sampling.temperature,
            "max_tokens": sampling.max_tokens,
            "stop": [QUESTION_STOP],
        }


QUESTION_INTRO = "Here are some questions of one kind. Write one more question of the same kind."


def question_requests(
    name: str, exemplars: list[Exemplar], count: int, shots: int, seed: int, sampling: Sampling
) -> Iterator[dict[str, Any]]:
    """`count` prompts asking for a new question, each showing `shots` exemplar questions
    chosen by a seeded hash (a different few per request, the same for the same seed)."""
    for i in range(count):
        ranked = sorted(
            range(len(exemplars)), key=lambda j: stable_hash(seed, name, i, j, "question")
        )
        shown = [exemplars[j].question for j in ranked[:shots]]
        lines = [QUESTION_INTRO, ""] + [f"Question: {q}" for q in shown] + ["Question:"]
        yield {
            "request_id": f"{name}/new-{i:06d}",
            "question_id": f"new-{i:06d}",
            "question": "",
            "prompt": "\n".join(lines),
            "n": sampling.n,
            "temperature": sampling.temperature,
            "max_tokens": sampling.max_tokens,
            "stop": ["\nQuestion:", "\n\n"],
        }


def new_questions(
    completions: Iterable[str], known: Iterable[str]
) -> tuple[list[str], dict[str, int]]:
    """Questions a model wrote: each completion's first non-empty line, without duplicates
    (normalised) and without the exemplars' own questions. Returns them and drop counts."""
    seen = {normal_text(q) for q in known}
    kept: list[str] = []
    dropped = {"empty": 0, "duplicate": 0, "copies_an_exemplar": 0}
    exemplar_forms = set(seen)
    for text in completions:
        line = next((ln.strip() for ln in text.splitlines() if ln.strip()), "")
        line = line.removeprefix("Question:").strip()
        key = normal_text(line)
        if not key:
            dropped["empty"] += 1
        elif key in exemplar_forms:
            dropped["copies_an_exemplar"] += 1
        elif key in seen:
            dropped["duplicate"] += 1
        else:
            seen.add(key)
            kept.append(line)
    return kept, dropped
