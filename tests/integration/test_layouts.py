"""Trainer layouts and packed shards, built for real on the demo with tokenizers trained in
the test: every layout loads with `datasets`, packed rows decode back to the examples, and
the output is the same bytes whatever the workers."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from flanmix.bundled import bundled_dir
from flanmix.cli.main import cli
from flanmix.publish.packing import load_tokenizer, unpack_decoder, unpack_encoder_decoder


def demo_texts() -> list[str]:
    texts = []
    for path in sorted((bundled_dir("mixtures") / "demo_data").glob("*.jsonl")):
        for line in path.read_text().splitlines():
            texts += [str(v) for v in json.loads(line).values() if isinstance(v, str)]
    return texts


@pytest.fixture(scope="module")
def tokenizer_json(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=1500,
        special_tokens=["<pad>", "<unk>", "</s>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tok.train_from_iterator(demo_texts(), trainer)
    path = tmp_path_factory.mktemp("tok") / "tok.json"
    tok.save(str(path))
    return path


@pytest.fixture(scope="module")
def sentencepiece_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import sentencepiece

    base = tmp_path_factory.mktemp("spm")
    (base / "text.txt").write_text("\n".join(demo_texts()))
    sentencepiece.SentencePieceTrainer.train(
        input=str(base / "text.txt"), model_prefix=str(base / "sp"), vocab_size=800,
        character_coverage=1.0, pad_id=0, unk_id=1, bos_id=-1, eos_id=2,
    )  # fmt: skip
    return base / "sp.model"


def build(out: Path, *args: str) -> str:
    result = CliRunner().invoke(
        cli, ["build", "--mixture", "demo", "--out", str(out), "--max-shard-size", "200000", *args]
    )
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture(scope="module")
def built(tokenizer_json: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    base = tmp_path_factory.mktemp("layouts")
    args = (
        "--layout", "messages", "--layout", "prompt-completion", "--layout", "text",
        "--tokenizer", str(tokenizer_json), "--pack", "2048",
    )  # fmt: skip
    said = build(base / "one", *args)
    build(base / "two", *args, "--workers", "2")
    return {"out": base / "one", "two": base / "two", "said": said}


def rows(folder: Path) -> list[dict[str, Any]]:
    return pq.read_table(folder).to_pylist()


def test_every_layout_loads_with_datasets(built: dict[str, Any]) -> None:
    import datasets

    out = built["out"]
    n = len(rows(out / "data"))
    for config, first in [
        ("default", "inputs"),
        ("messages", "messages"),
        ("prompt-completion", "prompt"),
        ("text", "text"),
        ("packed", "input_ids"),
    ]:
        ds = datasets.load_dataset(str(out), config, split="train")
        assert first in ds.column_names
        if config != "packed":
            assert len(ds) == n
    messages = datasets.load_dataset(str(out), "messages", split="train")
    feature = messages.features["messages"]
    assert feature.feature == {
        "role": datasets.Value("string"),
        "content": datasets.Value("string"),
    }  # a list of {role, content} structs, the schema chat trainers expect
    card = (out / "README.md").read_text()
    assert "config_name: messages" in card and "SFTTrainer" in card and "chat_template" in card


def test_layouts_hold_the_same_rows_in_the_same_order(built: dict[str, Any]) -> None:
    out = built["out"]
    flan = rows(out / "data")
    pc = rows(out / "prompt-completion")
    text = rows(out / "text")
    msgs = rows(out / "messages")
    assert [(r["prompt"], r["completion"]) for r in pc] == [
        (r["inputs"], r["targets"]) for r in flan
    ]
    assert [r["text"] for r in text] == [f"{r['inputs']}\n\n{r['targets']}" for r in flan]
    assert [[m["role"] for m in r["messages"]] for r in msgs] == [["user", "assistant"]] * len(flan)
    assert [r["example_id"] for r in msgs] == [r["example_id"] for r in flan]


def test_packed_rows_decode_back_to_the_examples(
    built: dict[str, Any], tokenizer_json: Path
) -> None:
    out = built["out"]
    tok = load_tokenizer(str(tokenizer_json))
    packed = rows(out / "packed")
    decoded = []
    for row in packed:
        assert len(row["input_ids"]) == 2048
        segs = [s for s in row["segment_ids"] if s]
        assert segs == sorted(segs) and segs[0] == 1  # segments in order from 1
        for seg in set(segs):  # positions restart at every example
            pos = [p for p, s in zip(row["positions"], row["segment_ids"], strict=True) if s == seg]
            assert pos == list(range(len(pos)))
        for prompt, completion in unpack_decoder(row, eos_id=tok.eos_id):
            decoded.append((tok.decode(prompt), tok.decode(completion)))
        # The loss mask is 0 on each prompt, 1 on its completion and EOS (the split that
        # decodes back to the targets below), and 0 on padding.
        for seg in set(segs):
            mask = [
                m for m, s in zip(row["loss_mask"], row["segment_ids"], strict=True) if s == seg
            ]
            ones = mask.index(1)
            assert set(mask[:ones]) <= {0} and set(mask[ones:]) == {1}
        for _, completion in unpack_decoder(row):
            assert completion[-1] == tok.eos_id
        pads = [m for m, s in zip(row["loss_mask"], row["segment_ids"], strict=True) if s == 0]
        assert set(pads) <= {0}
    flan = rows(out / "data")
    assert Counter(decoded) == Counter((r["inputs"], r["targets"]) for r in flan)
    stats = json.loads((out / "stats.json").read_text())
    assert stats["packing"]["efficiency"] >= 0.95, stats["packing"]
    assert stats["packing"]["examples"] == len(flan)
    assert "efficiency" in built["said"]


def test_token_counts_per_leaf_in_stats(built: dict[str, Any], tokenizer_json: Path) -> None:
    out = built["out"]
    tok = load_tokenizer(str(tokenizer_json))
    stats = json.loads((out / "stats.json").read_text())
    flan = rows(out / "data")
    leaf = stats["leaves"][0]
    mine = [
        r
        for r in flan
        if r["task_name"] == leaf["task"] and leaf["template_type"].startswith(r["template_type"])
    ]
    assert leaf["tokens"]["targets"] > 0
    assert stats["tokens"]["inputs"] == sum(len(tok.encode(r["inputs"])) for r in flan)
    assert sum(x["tokens"]["share"] for x in stats["leaves"]) == pytest.approx(1.0)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["tokenizer"]["sha256"] == tok.sha256
    assert mine


def test_layouts_are_the_same_bytes_with_two_workers(built: dict[str, Any]) -> None:
    one, two = (json.loads((built[k] / "manifest.json").read_text()) for k in ("out", "two"))
    assert one["layouts"] == two["layouts"] and len(one["layouts"]["packed"]) > 1
    assert [s["sha256"] for s in one["shards"]] == [s["sha256"] for s in two["shards"]]


def test_encoder_decoder_packing_with_sentencepiece(
    sentencepiece_model: Path, tmp_path: Path
) -> None:
    out = tmp_path / "t5"
    build(
        out,
        "--tokenizer",
        str(sentencepiece_model),
        "--pack",
        "1024",
        "--pack-target-length",
        "256",
    )
    tok = load_tokenizer(str(sentencepiece_model))
    packed = rows(out / "packed")
    decoded = []
    for row in packed:
        assert len(row["encoder_input_tokens"]) == 1024 and len(row["decoder_target_tokens"]) == 256
        for seg in set(row["decoder_segment_ids"]) - {0}:  # shifted right within the segment
            tgt = [
                t
                for t, s in zip(
                    row["decoder_target_tokens"], row["decoder_segment_ids"], strict=True
                )
                if s == seg
            ]
            inp = [
                t
                for t, s in zip(
                    row["decoder_input_tokens"], row["decoder_segment_ids"], strict=True
                )
                if s == seg
            ]
            assert inp == [0, *tgt[:-1]]
        decoded += [
            (tok.decode(i), tok.decode(t))
            for i, t in unpack_encoder_decoder(row, eos_id=tok.eos_id)
        ]
    stats = json.loads((out / "stats.json").read_text())
    assert stats["packing"]["kind"] == "encoder-decoder"
    assert len(decoded) == stats["packing"]["examples"]
    assert all(i and t for i, t in decoded)  # both sides of every example survive


def test_fewshot_rows_as_turns(tokenizer_json: Path, tmp_path: Path) -> None:
    out = tmp_path / "turns"
    build(out, "--layout", "messages", "--fewshot-as-turns")
    msgs = rows(out / "messages")
    flan = rows(out / "data")
    for m, f in zip(msgs, flan, strict=True):
        roles = [x["role"] for x in m["messages"]]
        assert roles == ["user", "assistant"] * (len(f["exemplar_ids"]) + 1)
        assert m["messages"][-1]["content"] == f["targets"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--layout", "chatml"], "unknown layout 'chatml'; valid layouts: flan, prompt-completion"),
        (["--pack", "2048"], "--pack needs --tokenizer PATH"),
        (["--fewshot-as-turns"], "--fewshot-as-turns shapes the messages layout"),
    ],
)
def test_bad_layout_options(args: list[str], message: str, tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["build", "-m", "demo", "--out", str(tmp_path / "o"), *args])
    assert result.exit_code == 1 and message in " ".join(result.output.split())
    assert not (tmp_path / "o").exists()


def test_bad_tokenizers_are_refused_before_building(tokenizer_json: Path, tmp_path: Path) -> None:
    import sentencepiece

    garbage = tmp_path / "broken.json"
    garbage.write_text("{not json")
    result = CliRunner().invoke(
        cli, ["build", "-m", "demo", "--out", str(tmp_path / "o"), "--tokenizer", str(garbage)]
    )
    assert (
        result.exit_code == 1
        and "broken.json" in result.output
        and "does not load" in result.output
    )
    (tmp_path / "t.txt").write_text("\n".join(demo_texts()))
    sentencepiece.SentencePieceTrainer.train(
        input=str(tmp_path / "t.txt"), model_prefix=str(tmp_path / "noeos"), vocab_size=300,
        bos_id=-1, eos_id=-1, unk_id=0, pad_id=-1,
    )  # fmt: skip
    result = CliRunner().invoke(
        cli,
        ["build", "-m", "demo", "--out", str(tmp_path / "o"), "--tokenizer",
         str(tmp_path / "noeos.model"), "--pack", "512"],
    )  # fmt: skip
    assert result.exit_code == 1 and "no EOS id" in result.output and "--no-eos" in result.output
    short = CliRunner().invoke(
        cli,
        ["build", "-m", "demo", "--out", str(tmp_path / "o"), "--tokenizer", str(tokenizer_json),
         "--pack", "4"],
    )  # fmt: skip
    assert short.exit_code == 1 and "none of" in short.output and "fits" in short.output
    assert not (tmp_path / "o").exists()


def test_a_push_takes_every_layout(built: dict[str, Any]) -> None:
    from flanmix.publish.push import build_files

    out = built["out"]
    names = {p.relative_to(out).parts[0] for p in build_files(out)}
    assert {"data", "messages", "prompt-completion", "text", "packed", "README.md"} <= names


def test_the_report_shows_tokens_and_packing(built: dict[str, Any], tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["report", str(built["out"]), "--out", str(tmp_path / "r")])
    assert result.exit_code == 0, result.output
    summary = (tmp_path / "r" / "summary.md").read_text()
    assert "Tokens" in summary and "efficiency" in summary and "input tokens" in summary
    card = (built["out"] / "README.md").read_text()
    assert "share of tokens" in card


def test_examples_sit_in_arrival_order_within_each_packed_row(
    built: dict[str, Any], tokenizer_json: Path
) -> None:
    """Rows are filled first-fit in the shard's order: within a row, segments follow it."""
    out = built["out"]
    tok = load_tokenizer(str(tokenizer_json))
    flan = [(r["inputs"], r["targets"]) for r in rows(out / "data")]
    seen = Counter(flan)
    order = {pair: i for i, pair in enumerate(flan) if seen[pair] == 1}  # unique texts only
    for row in rows(out / "packed"):
        pairs = [(tok.decode(p), tok.decode(c)) for p, c in unpack_decoder(row, eos_id=tok.eos_id)]
        arrival = [order[pair] for pair in pairs if pair in order]
        assert arrival == sorted(arrival)


def test_a_failing_layout_writer_fails_the_shard_without_hanging(
    tokenizer_json: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import flanmix.publish.layout_shards as ls

    class Broken(ls.ShardFile):  # the layout files only: the flan shard writes as usual
        def add(self, table: Any) -> None:
            raise OSError("disk full (simulated)")

    monkeypatch.setattr(ls, "ShardFile", Broken)
    result = CliRunner().invoke(
        cli,
        ["build", "-m", "demo", "--out", str(tmp_path / "o"), "--tokenizer", str(tokenizer_json),
         "--pack", "2048"],
    )  # fmt: skip
    assert result.exit_code != 0 and "disk full" in str(result.exception)
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--no-eos"], "--no-eos apply to packing: add --pack LENGTH"),
        (["--text-joiner", " | "], "--text-joiner shapes the text layout"),
    ],
)
def test_options_that_would_do_nothing_are_refused(
    args: list[str], message: str, tmp_path: Path
) -> None:
    result = CliRunner().invoke(cli, ["build", "-m", "demo", "--out", str(tmp_path / "o"), *args])
    assert result.exit_code == 1 and message in " ".join(result.output.split())
