"""Packing efficiency and the cost of trainer layouts on the speed benchmark's corpus.

Usage: python benchmarks/packing.py [--rows 100000] [--workers 2] [--length 2048]

Generates the synthetic corpus (corpus.py), trains a byte-level BPE tokenizer on a sample of
its texts, and times `flanmix build` plain, with the messages and prompt-completion layouts,
and with those plus `--tokenizer … --pack LENGTH`. Prints a Markdown table (README.md).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

import pyarrow.parquet as pq

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from corpus import generate  # noqa: E402
from speed import measure, rows_written  # noqa: E402


def train_tokenizer(corpus: Path, dest: Path, vocab: int = 8000) -> Path:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    texts: list[str] = []
    for path in sorted((corpus / "data").glob("*.parquet")):
        table = pq.read_table(path).slice(0, 200)
        for name in table.column_names:
            if table.schema.field(name).type == "string" and name != "id":
                texts += [str(v) for v in table[name].to_pylist()]
    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab,
        special_tokens=["<pad>", "<unk>", "</s>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tok.train_from_iterator(texts, trainer)
    tok.save(str(dest))
    return dest


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--length", type=int, default=2048)
    parser.add_argument("--work", type=Path)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="flanmix-packing-", dir=args.work))
    try:
        mixture = generate(work / "corpus", args.rows)
        tok = train_tokenizer(work / "corpus", work / "tok.json")
        layouts = ["--layout", "messages", "--layout", "prompt-completion"]
        variants = {
            "plain": [],
            "+ messages, prompt-completion": layouts,
            f"+ those, tokenizer, --pack {args.length}": [
                *layouts,
                "--tokenizer",
                str(tok),
                "--pack",
                str(args.length),
            ],
        }
        print(f"{args.rows:,} source rows, {args.workers} worker(s)\n")
        print("| build | seconds | rows written | peak RSS, largest process (MB) | packed rows "
              "| packing efficiency | status |")  # fmt: skip
        print("| --- | ---: | ---: | ---: | ---: | ---: | --- |")
        for name, extra in variants.items():
            out = work / "out"
            cmd = [
                sys.executable, "-c", "from flanmix.cli.main import main; main()", "build",
                "--mixture", str(mixture), "--out", str(out), "--overwrite",
                "--workers", str(args.workers), *extra,
            ]  # fmt: skip
            env = {**os.environ, "TMPDIR": str(work)}
            seconds, rss, _, status, _ = measure(cmd, work / "build.log", env, 16 * 2**30, 3600)
            stats = json.loads((out / "stats.json").read_text()) if status == "ok" else {}
            pack = stats.get("packing", {})
            rows = rows_written(out) if status == "ok" else 0
            print(
                f"| {name} | {seconds:.1f} | {rows:,} | {rss:,.0f} | "
                f"{pack.get('rows', 0):,} | "
                + (f"{pack['efficiency']:.1%}" if pack else "–")
                + f" | {status} |",
                flush=True,
            )
            shutil.rmtree(out, ignore_errors=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
