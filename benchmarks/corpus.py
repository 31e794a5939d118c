"""A seeded synthetic Flan-like corpus for speed benchmarks: 50 tasks, a mixture and templates.

Usage: python benchmarks/corpus.py --rows 100000 --out /tmp/bench-corpus [--seed 0]
       [--format parquet|jsonl]

Writes, under --out:
  data/<task>.parquet (or .jsonl)  one file per task, ids in an `id` column
  templates/bench_*.yaml           six small template families (2–3 templates each)
  mixture.yaml                     the mixture (flanmix format), `templates_dir: templates`
  corpus.json                      rows per task, the cap, the planned rows kept

Row counts per task follow a Zipf law (weight 1/rank), so a few tasks hold most rows, as in
Flan. Inputs are 20–400 words of pseudo-words drawn from a seeded Zipfian word list; targets
are short (a label, a phrase from the passage, a 3–30 word summary or title). Half the tasks
(alternating by size) are few-shot (`fs_opt`, template mix, 3 exemplars), the other half
zero-shot (`zs_opt`); classification tasks carry answer options. One cap for every task is
chosen so that about 67% of the rows are kept under `epoch: first_exhausted`: each collection's
weight is the sum of its capped rates, so every uncapped task runs out together and each capped
task gives exactly `cap` rows. Same seed and rows → the same files.
"""

from __future__ import annotations

import argparse
import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import yaml

NUM_TASKS = 50
KEEP_FRACTION = 0.67
MIN_WORDS, MAX_WORDS = 20, 400
VOCAB_SIZE = 8_000
BASE_WORDS = 4_000_000  # the word stream that every text is a window of

# Task kinds: the family each uses and how its records look. Ten kinds cycle over the tasks,
# so 15 of the 50 tasks are classification tasks with answer options.
KIND_CYCLE = (
    "qa",
    "summarize",
    "title",
    "sentiment",
    "qa",
    "summarize",
    "nli",
    "title",
    "topic",
    "qa",
)
LABELS = {
    "sentiment": ["positive", "negative"],
    "topic": ["world", "sports", "business", "science"],
    "nli": ["yes", "it is not possible to tell", "no"],
}

FAMILIES: dict[str, list[dict[str, Any]]] = {
    "bench_sentiment": [
        {
            "input": "{{ text }}\n\nWhat is the sentiment of this review?\n\n{{ options_ }}",
            "target": "{{ label }}",
            "answer_choices": LABELS["sentiment"],
        },
        {
            "input": "Review: {{ text }}\nIs this review positive or negative?\n\n{{ options_ }}",
            "target": "{{ label }}",
            "answer_choices": LABELS["sentiment"],
        },
        {
            "input": "Read the following text and say how the writer feels.\n\n{{ text }}"
            "\n\n{{ options_ }}",
            "target": "{{ label }}",
            "answer_choices": LABELS["sentiment"],
        },
    ],
    "bench_topic": [
        {
            "input": "{{ text }}\n\nWhich topic is this article about?\n\n{{ options_ }}",
            "target": "{{ label }}",
            "answer_choices": LABELS["topic"],
        },
        {
            "input": "Article: {{ text }}\n\nWhat is the best label for this article?"
            "\n\n{{ options_ }}",
            "target": "{{ label }}",
            "answer_choices": LABELS["topic"],
        },
    ],
    "bench_nli": [
        {
            "input": "Premise: {{ premise }}\nHypothesis: {{ hypothesis }}\n\n"
            "Does the premise entail the hypothesis?\n\n{{ options_ }}",
            "target": "{{ label }}",
            "answer_choices": LABELS["nli"],
        },
        {
            "input": '{{ premise }}\n\nBased on the paragraph above, can we conclude that "'
            '{{ hypothesis }}"?\n\n{{ options_ }}',
            "target": "{{ label }}",
            "answer_choices": LABELS["nli"],
        },
        {
            "input": "Read the text and decide if the sentence is true.\n\nText: {{ premise }}"
            "\n\nSentence: {{ hypothesis }}\n\n{{ options_ }}",
            "target": "{{ label }}",
            "answer_choices": LABELS["nli"],
        },
    ],
    "bench_qa": [
        {
            "input": "{{ context }}\n\nAnswer this question based on the passage above: "
            "{{ question }}",
            "target": "{{ answer }}",
        },
        {
            "input": "Passage: {{ context }}\nQuestion: {{ question }}\nAnswer:",
            "target": "{{ answer }}",
        },
        {
            "input": "Read the text and answer the question.\n\n{{ context }}\n\nQ: {{ question }}",
            "target": "{{ answer }}",
        },
    ],
    "bench_summarize": [
        {
            "input": "{{ document }}\n\nWrite a short summary of the text above.",
            "target": "{{ summary }}",
        },
        {"input": "Summarize this article:\n\n{{ document }}", "target": "{{ summary }}"},
    ],
    "bench_title": [
        {"input": "{{ text }}\n\nWhat is a good title for this text?", "target": "{{ title }}"},
        {
            "input": "Write a title for this article:\n\n{{ text }}\n\nTitle:",
            "target": "{{ title }}",
        },
    ],
}
KIND_FAMILY = {
    "qa": "bench_qa",
    "summarize": "bench_summarize",
    "title": "bench_title",
    "sentiment": "bench_sentiment",
    "topic": "bench_topic",
    "nli": "bench_nli",
}


@dataclass(frozen=True)
class TaskInfo:
    name: str
    kind: str
    rows: int
    fewshot: bool
    median_words: int  # the task's typical input length

    @property
    def family(self) -> str:
        return KIND_FAMILY[self.kind]


def zipf_counts(total: int, num_tasks: int = NUM_TASKS, exponent: float = 1.0) -> list[int]:
    """`total` rows split over tasks with weights 1/rank**exponent (largest remainder)."""
    weights = [1.0 / (rank**exponent) for rank in range(1, num_tasks + 1)]
    scale = total / sum(weights)
    ideal = [w * scale for w in weights]
    counts = [max(1, math.floor(x)) for x in ideal]
    left = total - sum(counts)
    order = sorted(range(num_tasks), key=lambda i: -(ideal[i] - math.floor(ideal[i])))
    for i in order[: max(0, left)]:
        counts[i] += 1
    return counts


def cap_for(counts: list[int], fraction: float = KEEP_FRACTION) -> int:
    """The smallest cap with sum(min(n, cap)) >= fraction * sum(n)."""
    target = fraction * sum(counts)
    lo, hi = 1, max(counts)
    while lo < hi:
        mid = (lo + hi) // 2
        if sum(min(n, mid) for n in counts) >= target:
            hi = mid
        else:
            lo = mid + 1
    return lo


def plan_tasks(rows: int, seed: int) -> list[TaskInfo]:
    rng = np.random.default_rng([seed, 1])
    counts = zipf_counts(rows)
    medians = rng.integers(40, 260, size=NUM_TASKS)
    tasks = []
    for i, n in enumerate(counts):  # counts are sorted by size: alternate few/zero-shot
        kind = KIND_CYCLE[i % len(KIND_CYCLE)]
        tasks.append(TaskInfo(f"t{i:02d}_{kind}", kind, n, i % 2 == 0, int(medians[i])))
    return tasks


class WordStream:
    """A long seeded stream of pseudo-words; every text is a window of it (fast to cut)."""

    def __init__(self, seed: int, words: int = BASE_WORDS) -> None:
        rng = np.random.default_rng([seed, 0])
        syllables = [c + v for c in "bcdfghjklmnprstvwz" for v in "aeiou"] + ["th", "st", "er"]
        vocab: list[str] = []
        seen: set[str] = set()
        while len(vocab) < VOCAB_SIZE:
            k = int(rng.integers(1, 5))
            word = "".join(syllables[j] for j in rng.integers(0, len(syllables), size=k))
            if word not in seen:
                seen.add(word)
                vocab.append(word)
        probs = 1.0 / np.arange(1, VOCAB_SIZE + 1) ** 1.1
        probs /= probs.sum()
        idx = rng.choice(VOCAB_SIZE, size=words, p=probs)
        ends = rng.random(words) < 0.07  # some words end a sentence
        table = np.array(vocab + [w + "." for w in vocab], dtype=object)
        tokens = table[idx + ends * VOCAB_SIZE].tolist()
        self.text = " ".join(tokens)
        lengths = np.fromiter((len(t) + 1 for t in tokens), dtype=np.int64, count=words)
        self.starts = np.concatenate([[0], np.cumsum(lengths)])  # starts[i]: word i's offset
        self.words = words

    def windows(self, rng: np.random.Generator, lengths: np.ndarray) -> list[str]:
        """One text per length: that many consecutive words from a random place."""
        first = rng.integers(0, self.words - lengths)
        begin = self.starts[first]
        end = self.starts[first + lengths] - 1
        text = self.text
        return [text[a:b] for a, b in zip(begin.tolist(), end.tolist(), strict=True)]


def _lengths(rng: np.random.Generator, n: int, median: int, lo: int, hi: int) -> np.ndarray:
    return np.clip(np.round(rng.lognormal(math.log(median), 0.55, n)), lo, hi).astype(np.int64)


def task_columns(task: TaskInfo, seed: int, stream: WordStream) -> dict[str, list[Any]]:
    rng = np.random.default_rng([seed, 2, int(task.name[1:3])])
    n = task.rows
    cols: dict[str, list[Any]] = {"id": [f"{task.name}-{i:08d}" for i in range(n)]}
    long = _lengths(rng, n, task.median_words, MIN_WORDS, MAX_WORDS)
    if task.kind in ("sentiment", "topic"):
        cols["text"] = stream.windows(rng, long)
    elif task.kind == "nli":
        hyp = _lengths(rng, n, 9, 5, 16)
        cols["premise"] = stream.windows(rng, np.maximum(long - hyp, 12))
        cols["hypothesis"] = stream.windows(rng, hyp)
    elif task.kind == "qa":
        q = _lengths(rng, n, 8, 5, 14)
        context = stream.windows(rng, np.maximum(long - q, 12))
        cols["context"] = context
        cols["question"] = [s + "?" for s in stream.windows(rng, q)]
        cut = rng.integers(1, 5, size=n)
        cols["answer"] = [
            " ".join(c.split(" ", 12)[:k]) for c, k in zip(context, cut.tolist(), strict=True)
        ]
    elif task.kind == "summarize":
        cols["document"] = stream.windows(rng, long)
        cols["summary"] = stream.windows(rng, _lengths(rng, n, 18, 8, 30))
    elif task.kind == "title":
        cols["text"] = stream.windows(rng, long)
        cols["title"] = stream.windows(rng, _lengths(rng, n, 5, 3, 9))
    if task.kind in LABELS:
        labels = LABELS[task.kind]
        cols["label"] = [labels[j] for j in rng.integers(0, len(labels), size=n).tolist()]
    return cols


def write_task(path: Path, cols: dict[str, list[Any]], fmt: str) -> None:
    if fmt == "parquet":
        table = pa.table({k: pa.array(v, pa.string()) for k, v in cols.items()})
        pq.write_table(table, path, compression="zstd", row_group_size=64_000)
        return
    names = list(cols)
    with open(path, "w", encoding="utf-8") as f:
        for values in zip(*(cols[k] for k in names), strict=True):
            f.write(json.dumps(dict(zip(names, values, strict=True))) + "\n")


class _Dumper(yaml.SafeDumper):
    """Block scalars for multi-line strings, and no anchors (&id001) for repeated lists."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def dump(doc: dict[str, Any]) -> str:
    return yaml.dump(doc, Dumper=_Dumper, sort_keys=False, width=100, allow_unicode=True)


def write_families(dest: Path) -> None:
    dest.mkdir(parents=True, exist_ok=True)
    for family, templates in FAMILIES.items():
        doc = {
            "family": family,
            "description": "Synthetic benchmark family (benchmarks/corpus.py).",
            "templates": [
                {"id": f"{family}_{i + 1:02d}", **t, "types": ["zs_opt", "fs_opt"]}
                for i, t in enumerate(templates)
            ],
        }
        (dest / f"{family}.yaml").write_text(dump(doc))


def mixture_doc(tasks: list[TaskInfo], cap: int, fmt: str, seed: int) -> dict[str, Any]:
    """Two collections (few-shot and zero-shot) weighted by their capped rates."""

    def collection(fewshot: bool) -> dict[str, Any]:
        members = [t for t in tasks if t.fewshot == fewshot]
        coll: dict[str, Any] = {
            "weight": sum(min(t.rows, cap) for t in members),
            "task_source": "BenchFewShot" if fewshot else "BenchZeroShot",
            "template_types": {"fs_opt": 1} if fewshot else {"zs_opt": 1},
            "rate": {"rule": "proportional", "cap": cap},
        }
        if fewshot:
            coll["fewshot"] = {"shots": 3}
        coll["tasks"] = {
            t.name: {
                "templates": t.family,
                "source": {"kind": fmt, "path": f"data/{t.name}.{fmt}", "id_field": "id"},
                "license": "CC0-1.0",
            }
            for t in members
        }
        return coll

    return {
        "name": "bench",
        "description": "Synthetic Flan-like corpus for speed benchmarks (benchmarks/corpus.py).",
        "seed": seed,
        "epoch": "first_exhausted",
        "templates_dir": "templates",
        "collections": {"bench_fewshot": collection(True), "bench_zeroshot": collection(False)},
    }


def generate(
    out: Path,
    rows: int,
    seed: int = 0,
    fmt: str = "parquet",
    progress: Callable[[str], None] = lambda _: None,
) -> Path:
    """Write the corpus under `out` and return the mixture's path."""
    tasks = plan_tasks(rows, seed)
    cap = cap_for([t.rows for t in tasks])
    (out / "data").mkdir(parents=True, exist_ok=True)
    progress("word stream")
    stream = WordStream(seed)
    for t in tasks:
        progress(f"{t.name}: {t.rows:,} rows")
        write_task(out / "data" / f"{t.name}.{fmt}", task_columns(t, seed, stream), fmt)
    write_families(out / "templates")
    mixture = out / "mixture.yaml"
    mixture.write_text(dump(mixture_doc(tasks, cap, fmt, seed)))
    info = {
        "rows": rows,
        "seed": seed,
        "format": fmt,
        "cap": cap,
        "kept_planned": sum(min(t.rows, cap) for t in tasks),
        "tasks": {
            t.name: {"rows": t.rows, "family": t.family, "fewshot": t.fewshot} for t in tasks
        },
    }
    (out / "corpus.json").write_text(json.dumps(info, indent=1))
    return mixture


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--format", choices=["parquet", "jsonl"], default="parquet")
    args = parser.parse_args()
    mixture = generate(args.out, args.rows, args.seed, args.format, progress=print)
    info = json.loads((args.out / "corpus.json").read_text())
    print(f"{mixture}: cap {info['cap']:,}, {info['kept_planned']:,} of {args.rows:,} rows kept")


if __name__ == "__main__":
    main()
