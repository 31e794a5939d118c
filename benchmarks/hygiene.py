"""What deduplication and decontamination cost: the n-gram index's size for eval sets the size
of Flan's four held-out sets, and a 1M-row build's time and memory with and without hygiene.

Usage:
  python benchmarks/hygiene.py index
  python benchmarks/hygiene.py build --rows 1000000 --workers 2 [--work DIR]

`index` builds the index of four synthetic stand-ins with the item counts and rough lengths of
MMLU, BBH, TyDiQA-GoldP and MGSM (this machine cannot download them; `--real` indexes the
registry's Hub copies instead, where the Hub is reachable). `build` generates the speed
benchmark's corpus (corpus.py), writes the stand-ins as JSONL eval sets plus one with 30
passages planted from the corpus's word stream, and times `flanmix build` four ways: plain,
`--dedup mixture`, `--decontaminate` (the five eval sets) and both. Prints Markdown tables.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from corpus import WordStream, generate  # noqa: E402
from speed import measure, rows_written  # noqa: E402

from flanmix.hygiene.ngrams import build_index  # noqa: E402


@dataclass(frozen=True)
class StandIn:
    """An eval set's shape: items, and per item fields of lognormal word lengths."""

    name: str
    items: int
    fields: dict[str, tuple[int, int]]  # field -> (median words, count per item)


# Item counts are those of the evaluation splits Flan reports on; lengths are rough medians
# (assumed, not measured here). Multiple-choice options are separate short texts.
STAND_INS = [
    StandIn("mmlu", 14_042, {"question": (35, 1), "choices": (5, 4)}),
    StandIn("bbh", 6_511, {"input": (90, 1), "target": (2, 1)}),
    StandIn("tydiqa", 5_077, {"context": (110, 1), "question": (8, 1)}),
    StandIn("mgsm", 2_750, {"question": (45, 1)}),
]


def stand_in_records(spec: StandIn, stream: WordStream, seed: int) -> list[dict[str, object]]:
    rng = np.random.default_rng([seed, len(spec.name)])
    records: list[dict[str, object]] = [{"id": f"{spec.name}-{i}"} for i in range(spec.items)]
    for field, (median, count) in spec.fields.items():
        n = spec.items * count
        lengths = np.clip(np.round(rng.lognormal(np.log(median), 0.6, n)), 1, 2_000)
        texts = stream.windows(rng, lengths.astype(np.int64))
        for i, record in enumerate(records):
            chunk = texts[i * count : (i + 1) * count]
            record[field] = chunk if count > 1 else chunk[0]
    return records


def texts_of(name: str, records: list[dict[str, object]]) -> list[tuple[str, str, str]]:
    out = []
    for r in records:
        for key, value in r.items():
            if key == "id":
                continue
            for text in value if isinstance(value, list) else [value]:
                out.append((name, str(r["id"]), str(text)))
    return out


def index_table(sets: dict[str, list[tuple[str, str, str]]]) -> list[str]:
    lines = [
        "| eval set | items | texts | n-grams | index MB | bytes per n-gram | build s |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    everything = [t for texts in sets.values() for t in texts]
    for name, texts in [*sets.items(), ("all four", everything)]:
        start = time.perf_counter()
        index = build_index(texts)
        seconds = time.perf_counter() - start
        items = len({(s, i) for s, i, _ in texts})
        lines.append(
            f"| {name} | {items:,} | {len(texts):,} | {len(index):,} | "
            f"{index.nbytes / 2**20:.1f} | {index.nbytes / max(1, len(index)):.1f} | "
            f"{seconds:.1f} |"
        )
    return lines


def real_sets() -> dict[str, list[tuple[str, str, str]]]:
    """The registry's eval sets, read through their snapshots (needs the Hub)."""
    from flanmix.hygiene.evalsets import load_eval_texts, lookup
    from flanmix.spec.load import eval_set

    out = {}
    for s in STAND_INS:
        entry, _ = lookup(s.name)
        out[s.name] = list(load_eval_texts([eval_set(entry, Path.cwd(), "registry", s.name)]))
    return out


def stand_in_sets(seed: int) -> dict[str, list[tuple[str, str, str]]]:
    stream = WordStream(seed + 1)  # another stream than the corpus's: no chance overlaps
    return {s.name: texts_of(s.name, stand_in_records(s, stream, seed)) for s in STAND_INS}


def write_eval_files(dest: Path, seed: int) -> list[Path]:
    """The stand-ins, and a `planted` set of 30 passages of the corpus's own word stream."""
    dest.mkdir(parents=True, exist_ok=True)
    stream = WordStream(seed + 1)
    paths = []
    for s in STAND_INS:
        path = dest / f"{s.name}.jsonl"
        with open(path, "w") as f:
            for r in stand_in_records(s, stream, seed):
                f.write(json.dumps(r) + "\n")
        paths.append(path)
    corpus_stream = WordStream(seed)  # the stream every corpus text is a window of
    rng = np.random.default_rng([seed, 99])
    planted = corpus_stream.windows(rng, np.full(30, 20, np.int64))
    path = dest / "planted.jsonl"
    with open(path, "w") as f:
        for i, text in enumerate(planted):
            f.write(json.dumps({"id": f"planted-{i}", "question": text}) + "\n")
    return [*paths, path]


def build_runs(args: argparse.Namespace) -> list[str]:
    work = Path(tempfile.mkdtemp(prefix="flanmix-hygiene-", dir=args.work))
    try:
        mixture = generate(work / "corpus", args.rows, args.seed)
        evals = write_eval_files(work / "evals", args.seed)
        decontam = [a for p in evals for a in ("--decontaminate", str(p))]
        variants = {
            "plain": [],
            "dedup (mixture)": ["--dedup", "mixture"],
            "decontaminate (5 sets)": decontam,
            "dedup + decontaminate": ["--dedup", "mixture", *decontam],
        }
        lines = [
            f"{args.rows:,} source rows, {args.workers} worker(s)",
            "",
            "| build | seconds | rows written | rows/s | peak RSS, largest process (MB) "
            "| duplicate | contaminated | status |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
        ]
        for name, extra in variants.items():
            out = work / "out"
            cmd = [
                sys.executable,
                "-c",
                "from flanmix.cli.main import main; main()",
                "build",
                "--mixture",
                str(mixture),
                "--out",
                str(out),
                "--overwrite",
                "--workers",
                str(args.workers),
                *extra,
            ]
            log = work / f"{name.split()[0]}.log"
            env = {**__import__("os").environ, "TMPDIR": str(work)}
            seconds, rss, _, status, _ = measure(cmd, log, env, 16 * 2**30, args.timeout)
            stats = json.loads((out / "stats.json").read_text()) if status == "ok" else {}
            rows = rows_written(out) if status == "ok" else 0
            drops = stats.get("dropped", {})
            lines.append(
                f"| {name} | {seconds:.1f} | {rows:,} | {rows / seconds:,.0f} | {rss:,.0f} | "
                f"{drops.get('duplicate', 0):,} | {drops.get('contaminated', 0):,} | {status} |"
            )
            print(lines[-1], flush=True)
            shutil.rmtree(out, ignore_errors=True)
        return lines
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("what", choices=["index", "build"])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--work", type=Path, help="scratch folder (default: a temporary one)")
    parser.add_argument("--timeout", type=float, default=1800.0)
    parser.add_argument("--real", action="store_true", help="index the registry's Hub copies")
    args = parser.parse_args()
    if args.what == "index":
        lines = index_table(real_sets() if args.real else stand_in_sets(args.seed))
    else:
        lines = build_runs(args)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
