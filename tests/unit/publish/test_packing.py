"""Tokenizer loading and sequence packing, with tokenizers trained here on a few sentences."""

from __future__ import annotations

import pickle
import sys
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import fsspec
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flanmix.errors import FlanmixError
from flanmix.hashing import file_sha256
from flanmix.publish import packing
from flanmix.publish.packing import (
    PackError,
    PackStats,
    TextTokenizer,
    TokenizerError,
    load_tokenizer,
    pack_decoder,
    pack_encoder_decoder,
    unpack_decoder,
    unpack_encoder_decoder,
)

PAIRS = [
    ("Question: what is two plus two? Answer:", "four"),
    ("Translate to French: hello world", "bonjour le monde"),
    ("Is the sky blue on a clear day?", "yes"),
    ("Name a colour of grass.", "green"),
    ("What do cats like to drink?", "milk, mostly"),
    ("Summarize: the dog sat on the log and slept all day.", "a dog slept on a log"),
    ("Question: what is three plus four? Answer:", "seven"),
    ("Which animal barks?", "the dog"),
    ("Complete the sentence: the quick brown fox", "jumps over the lazy dog"),
    ("Is ice cold or hot?", "cold"),
    ("Translate to German: good morning", "guten morgen"),
    ("What is the opposite of up?", "down"),
    ("Question: how many legs does a spider have? Answer:", "eight"),
    ("Spell the word cat backwards.", "tac"),
    ("Premise: a man plays a guitar. Hypothesis: a man makes music. Entailment?", "yes"),
    ("What colour is snow?", "white"),
    ("Question: is the sun a star? Answer:", "yes, it is a star"),
    ("Summarize: it rained all morning, then the sun came out in the afternoon.", "rain, then sun"),
    ("Which is larger, ten or two?", "ten"),
    ("Translate to Spanish: thank you", "gracias"),
    ("What do bees make?", "honey"),
    ("Question: what is the capital of France? Answer:", "paris"),
    ("Is a whale a fish?", "no, a whale is a mammal"),
    ("Name the season after summer.", "autumn"),
]
TEXT = [s for pair in PAIRS for s in pair] + [
    "The quick brown fox jumps over the lazy dog.",
    "A cat sat on the mat, and the dog sat on the log.",
    "Questions and answers, translations and summaries.",
]
TAG = 1000  # tagged examples start with TAG + their arrival index


# ---------------------------------------------------------------- tokenizers trained in the test


@pytest.fixture(scope="module")
def tok_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("tokenizers")


@pytest.fixture(scope="module")
def hf_path(tok_dir: Path) -> Path:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=400,
        special_tokens=["<pad>", "</s>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(TEXT * 3, trainer)
    path = tok_dir / "bpe.json"
    tok.save(str(path))
    return path


def train_sentencepiece(tok_dir: Path, name: str, **options: Any) -> Path:
    import sentencepiece as spm

    text = tok_dir / "text.txt"
    text.write_text("\n".join(TEXT * 3) + "\n", encoding="utf-8")
    spm.SentencePieceTrainer.train(
        input=str(text),
        model_prefix=str(tok_dir / name),
        vocab_size=100,
        character_coverage=1.0,
        hard_vocab_limit=False,
        minloglevel=2,
        **options,
    )
    return tok_dir / f"{name}.model"


@pytest.fixture(scope="module")
def sp_path(tok_dir: Path) -> Path:
    return train_sentencepiece(tok_dir, "sp", pad_id=3)  # unk 0, bos 1, eos 2 by default


@pytest.fixture(scope="module")
def hf(hf_path: Path) -> TextTokenizer:
    return load_tokenizer(str(hf_path))


@pytest.fixture(scope="module")
def sp(sp_path: Path) -> TextTokenizer:
    return load_tokenizer(str(sp_path))


@pytest.fixture(params=["hf", "sp"])
def tok(request: pytest.FixtureRequest) -> TextTokenizer:
    return request.getfixturevalue(request.param)  # type: ignore[no-any-return]


def word_level(tmp_path: Path, vocab: Sequence[str], name: str = "words.json") -> Path:
    from tokenizers import Tokenizer, models, pre_tokenizers

    words = {w: i for i, w in enumerate(["[UNK]", *vocab])}
    tok = Tokenizer(models.WordLevel(vocab=words, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    path = tmp_path / name
    tok.save(str(path))
    return path


# ---------------------------------------------------------------- loading


def test_hf_tokenizer_ids_and_round_trip(hf: TextTokenizer, hf_path: Path) -> None:
    from tokenizers import Tokenizer

    lib = Tokenizer.from_file(str(hf_path))
    assert hf.kind == "tokenizers"
    assert hf.path == str(hf_path.resolve())
    assert hf.sha256 == file_sha256(str(hf_path))
    assert hf.eos_id == lib.token_to_id("</s>") == 1
    assert hf.pad_id == lib.token_to_id("<pad>") == 0
    texts = [t for pair in PAIRS for t in pair]
    batch = hf.encode_batch(texts)
    assert batch == [hf.encode(t) for t in texts]
    assert hf.encode_batch([]) == []
    for text, ids in zip(texts, batch, strict=True):
        assert hf.eos_id not in ids  # no special tokens added
        assert hf.decode(ids) == text
    assert hf.decode([*batch[0], hf.eos_id, hf.pad_id]) == texts[0]


def test_sentencepiece_ids_and_round_trip(sp: TextTokenizer, sp_path: Path) -> None:
    assert sp.kind == "sentencepiece"
    assert sp.sha256 == file_sha256(str(sp_path))
    assert (sp.eos_id, sp.pad_id) == (2, 3)
    texts = [t for pair in PAIRS for t in pair]
    batch = sp.encode_batch(texts)
    assert batch == [sp.encode(t) for t in texts]
    for text, ids in zip(texts, batch, strict=True):
        assert 2 not in ids and 1 not in ids  # neither EOS nor BOS added
        assert sp.decode(ids) == text
    assert sp.decode([*batch[0], 2]) == texts[0]


def test_sentencepiece_without_eos_refused_unless_no_eos(tok_dir: Path) -> None:
    path = train_sentencepiece(tok_dir, "noeos", eos_id=-1)
    with pytest.raises(FlanmixError) as e:
        load_tokenizer(str(path))
    text = str(e.value)
    assert str(path) in text
    assert "has no EOS id" in text and "--no-eos" in text and "EOS piece" in text
    tok = load_tokenizer(str(path), need_eos=False)
    assert tok.eos_id is None and tok.pad_id == 0  # pad_id() is -1 by default
    assert tok.decode(tok.encode("the dog")) == "the dog"


def test_hf_eos_and_pad_tokens_looked_up_by_name(tmp_path: Path) -> None:
    path = word_level(tmp_path, ["hello", "world"])
    with pytest.raises(TokenizerError, match=r"has none of the end-of-sequence tokens </s>, "):
        load_tokenizer(str(path))
    tok = load_tokenizer(str(path), need_eos=False)
    assert (tok.eos_id, tok.pad_id) == (None, 0)
    assert tok.encode("hello world") == [1, 2]

    # </s> comes first in the preference order, whatever its id; [PAD] is a pad token
    path = word_level(tmp_path, ["[PAD]", "[SEP]", "hi", "</s>"], name="sep.json")
    tok = load_tokenizer(str(path))
    assert (tok.eos_id, tok.pad_id) == (4, 1)
    path = word_level(tmp_path, ["hi", "<|endoftext|>"], name="gpt.json")
    assert load_tokenizer(str(path)).eos_id == 2


def test_loads_from_fsspec_url(hf_path: Path) -> None:
    url = "memory://flanmix-test-packing/bpe.json"
    with fsspec.open(url, "wb") as f:
        f.write(hf_path.read_bytes())
    try:
        tok = load_tokenizer(url)
        assert tok.path == url
        assert tok.sha256 == file_sha256(str(hf_path))
        packing._LOADED.clear()  # as on a fresh worker
        clone = pickle.loads(pickle.dumps(tok))
        assert clone.decode(clone.encode("the lazy dog")) == "the lazy dog"
    finally:
        fsspec.filesystem("memory").rm("/flanmix-test-packing", recursive=True)


def test_pickles_without_the_library_object(tok: TextTokenizer) -> None:
    data = pickle.dumps(tok)
    assert len(data) < 1000  # the path and checksum, not the vocabulary
    packing._LOADED.clear()  # a worker process starts with nothing loaded
    clone = pickle.loads(data)
    assert clone == tok
    assert clone.encode("what is two plus two?") == tok.encode("what is two plus two?")
    assert len(packing._LOADED) == 1


def test_file_changed_after_loading_refused(hf_path: Path, tmp_path: Path) -> None:
    path = tmp_path / "copy.json"
    path.write_bytes(hf_path.read_bytes())
    tok = load_tokenizer(str(path))
    path.write_text(path.read_text().replace('"</s>"', '"<s>"'))
    packing._LOADED.clear()
    with pytest.raises(TokenizerError, match="changed while the build was running"):
        tok.encode("hello")


def test_bad_tokenizer_files(tmp_path: Path) -> None:
    def error(path: Path | str) -> str:
        with pytest.raises(FlanmixError) as e:
            load_tokenizer(str(path))
        assert str(path) in str(e.value)
        return str(e.value)

    bad_json = tmp_path / "bad.json"
    bad_json.write_text("{ this is not json")
    assert "does not load as a tokenizers JSON file: " in error(bad_json)
    wrong_json = tmp_path / "wrong.json"
    wrong_json.write_text('{"version": "1.0"}')
    assert "does not load as a tokenizers JSON file: " in error(wrong_json)
    binary = tmp_path / "binary.json"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    assert "not UTF-8 JSON" in error(binary)
    bad_model = tmp_path / "bad.model"
    bad_model.write_bytes(b"\x00\x01 definitely not a sentencepiece model")
    assert "does not load as a sentencepiece model" in error(bad_model)
    txt = tmp_path / "vocab.txt"
    txt.write_text("hello\n")
    assert "must end in .json (a Hugging Face tokenizers file) or .model" in error(txt)
    assert "does not exist" in error(tmp_path / "missing.json")
    assert "does not exist" in error("memory://flanmix-test-packing-none/missing.model")
    (tmp_path / "folder.json").mkdir()
    assert "is not a file" in error(tmp_path / "folder.json")


@pytest.mark.parametrize(
    ("module", "fixture"), [("tokenizers", "hf_path"), ("sentencepiece", "sp_path")]
)
def test_missing_library_says_how_to_install(
    module: str, fixture: str, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = request.getfixturevalue(fixture)
    monkeypatch.setitem(sys.modules, module, None)  # import fails as if not installed
    with pytest.raises(TokenizerError) as e:
        load_tokenizer(str(path))
    assert f"needs the `{module}` package (pip install 'flanmix[tokenizers]')" in str(e.value)
    assert str(path) in str(e.value)


# ---------------------------------------------------------------- row checks


def check_decoder_row(row: dict[str, list[int]], length: int, pad_id: int) -> None:
    """Exactly `length` tokens; segments numbered 1.. with positions restarting; padding last."""
    assert set(row) == {"input_ids", "loss_mask", "segment_ids", "positions"}
    assert all(len(v) == length for v in row.values())
    check_segments(row["segment_ids"], row["positions"])
    for j, seg in enumerate(row["segment_ids"]):
        if seg == 0:
            assert (row["input_ids"][j], row["loss_mask"][j]) == (pad_id, 0)


def check_segments(
    segment_ids: Sequence[int], positions: Sequence[int], contiguous: bool = True
) -> None:
    """Segments numbered upwards (1, 2, 3… when contiguous), positions restarting at 0 in each,
    padding (segment 0, position 0) only after the last segment."""
    prev = pos = 0
    padding = False
    for seg, p in zip(segment_ids, positions, strict=True):
        if seg == 0:
            padding = True
            assert p == 0
            continue
        assert not padding, "padding only at the end"
        if seg == prev:
            pos += 1
        else:
            assert seg == prev + 1 if contiguous else seg > prev
            pos = 0
        assert p == pos
        prev = seg


def shift_right_in_segments(
    targets: Sequence[int], segment_ids: Sequence[int], pad: int
) -> list[int]:
    out = []
    for j, seg in enumerate(segment_ids):
        if seg == 0:
            out.append(pad)
        elif j == 0 or segment_ids[j - 1] != seg:
            out.append(0)
        else:
            out.append(targets[j - 1])
    return out


def check_encdec_row(row: dict[str, list[int]], in_len: int, tgt_len: int, pad_id: int) -> None:
    enc = ("encoder_input_tokens", "encoder_segment_ids", "encoder_positions")
    dec = (
        "decoder_target_tokens",
        "decoder_input_tokens",
        "decoder_loss_weights",
        "decoder_segment_ids",
        "decoder_positions",
    )
    assert set(row) == {*enc, *dec}
    assert all(len(row[k]) == in_len for k in enc)
    assert all(len(row[k]) == tgt_len for k in dec)
    # a side may lack a segment when an example has no tokens there (empty text, no EOS)
    check_segments(row["encoder_segment_ids"], row["encoder_positions"], contiguous=False)
    check_segments(row["decoder_segment_ids"], row["decoder_positions"], contiguous=False)
    both = {*row["encoder_segment_ids"], *row["decoder_segment_ids"]} - {0}
    assert both == set(range(1, len(both) + 1))
    segs = row["decoder_segment_ids"]
    assert row["decoder_loss_weights"] == [int(s != 0) for s in segs]
    assert row["decoder_input_tokens"] == shift_right_in_segments(
        row["decoder_target_tokens"], segs, pad_id
    )
    for tok, seg in zip(row["encoder_input_tokens"], row["encoder_segment_ids"], strict=True):
        assert seg or tok == pad_id
    for tok, seg in zip(row["decoder_target_tokens"], segs, strict=True):
        assert seg or tok == pad_id


class Recorder:
    """Feeds examples and notes how many were consumed when each row comes out."""

    def __init__(self, examples: Iterable[tuple[list[int], list[int]]]) -> None:
        self.examples = examples
        self.consumed = 0

    def __iter__(self) -> Iterator[tuple[list[int], list[int]]]:
        for ex in self.examples:
            self.consumed += 1
            yield ex


def run(rows: Iterator[dict[str, list[int]]], feed: Recorder) -> tuple[list[Any], list[int]]:
    out, consumed = [], []
    for row in rows:
        out.append(row)
        consumed.append(feed.consumed)
    return out, consumed


def check_window(row_indices: list[list[int]], consumed: list[int], window: int) -> None:
    """When row t comes out, the rows still open (those emitted later that hold an example
    consumed before) are never more than `window`."""
    for t, c in enumerate(consumed):
        still_open = [r for r in row_indices[t + 1 :] if r and min(r) < c]
        assert len(still_open) <= window


def without_eos(ids: list[int], eos: int | None) -> list[int]:
    return ids[:-1] if eos is not None and ids and ids[-1] == eos else ids


def tagged(pairs: Sequence[tuple[list[int], list[int]]]) -> list[tuple[list[int], list[int]]]:
    return [([TAG + i, *p], list(c)) for i, (p, c) in enumerate(pairs)]


# ---------------------------------------------------------------- decoder-only packing


def test_decoder_rows_literally() -> None:
    stats = PackStats()
    rows = list(
        pack_decoder(
            [([5, 6], [7]), ([8], [9, 10]), ([11, 12, 13], [])],
            8,
            eos_id=1,
            pad_id=0,
            stats=stats,
        )
    )
    assert rows == [
        {  # full after the second example, so emitted at once
            "input_ids": [5, 6, 7, 1, 8, 9, 10, 1],
            "loss_mask": [0, 0, 1, 1, 0, 1, 1, 1],
            "segment_ids": [1, 1, 1, 1, 2, 2, 2, 2],
            "positions": [0, 1, 2, 3, 0, 1, 2, 3],
        },
        {
            "input_ids": [11, 12, 13, 1, 0, 0, 0, 0],
            "loss_mask": [0, 0, 0, 1, 0, 0, 0, 0],
            "segment_ids": [1, 1, 1, 1, 0, 0, 0, 0],
            "positions": [0, 1, 2, 3, 0, 0, 0, 0],
        },
    ]
    assert stats == PackStats(examples=3, rows=2, real_tokens=12, total_tokens=16)
    assert stats.efficiency == 0.75
    assert [unpack_decoder(r, eos_id=1) for r in rows] == [
        [([5, 6], [7]), ([8], [9, 10])],
        [([11, 12, 13], [])],
    ]
    assert unpack_decoder(rows[1]) == [([11, 12, 13], [1])]  # EOS kept when not named


def test_first_fit_fills_earlier_rows_first() -> None:
    sizes = [6, 5, 3, 4, 2, 1]  # with EOS: 7, 6, 4, 5, 3, 2 into rows of 10
    examples: list[tuple[list[int], list[int]]] = [
        ([TAG + i] + [2] * (n - 1), []) for i, n in enumerate(sizes)
    ]
    rows = list(pack_decoder(examples, 10, eos_id=1, pad_id=0, window=3))
    placed = [[p[0] - TAG for p, _ in unpack_decoder(r, eos_id=1)] for r in rows]
    # 7 -> A; 6 -> B; 4 -> B (full, out); 5 -> C; 3 -> A (full, out); 2 -> C
    assert placed == [[1, 2], [0, 4], [3, 5]]


def test_loss_mask_and_no_eos_options() -> None:
    rows = list(
        pack_decoder([([5, 6], [7]), ([8], [9])], 6, eos_id=None, pad_id=9, loss_on_prompt=True)
    )
    assert rows == [
        {
            "input_ids": [5, 6, 7, 8, 9, 9],
            "loss_mask": [1, 1, 1, 1, 1, 0],
            "segment_ids": [1, 1, 1, 2, 2, 0],
            "positions": [0, 1, 2, 0, 1, 0],
        }
    ]
    # with loss_on_prompt the split is not recorded: everything comes back as completion
    assert unpack_decoder(rows[0]) == [([], [5, 6, 7]), ([], [8, 9])]


def test_decoder_round_trip_with_real_tokenizers(tok: TextTokenizer) -> None:
    assert tok.eos_id is not None
    prompts = tok.encode_batch([p for p, _ in PAIRS])
    completions = tok.encode_batch([c for _, c in PAIRS])
    examples = list(zip(prompts, completions, strict=True))
    length = 2 * max(len(p) + len(c) + 1 for p, c in examples)
    for window in (1, 3, 64):
        stats = PackStats()
        rows = list(
            pack_decoder(
                examples, length, eos_id=tok.eos_id, pad_id=tok.pad_id, window=window, stats=stats
            )
        )
        for row in rows:
            check_decoder_row(row, length, tok.pad_id)
        texts = [
            (tok.decode(p), tok.decode(c))
            for row in rows
            for p, c in unpack_decoder(row, eos_id=tok.eos_id)
        ]
        order = [PAIRS.index(t) for t in texts]
        assert sorted(order) == list(range(len(PAIRS)))
        if window == 1:
            assert texts == PAIRS  # one open row: arrival order throughout
        start = 0
        for row in rows:  # within a row, segments keep arrival order
            n = max(row["segment_ids"])
            assert order[start : start + n] == sorted(order[start : start + n])
            start += n
        # the loss mask covers exactly each completion and its EOS
        masks = {
            PAIRS.index((tok.decode(p), tok.decode(c))): m
            for row in rows
            for (p, c), m in zip(
                unpack_decoder(row, eos_id=tok.eos_id),
                segment_values(row, "loss_mask"),
                strict=True,
            )
        }
        for i, (p, c) in enumerate(examples):
            assert masks[i] == [0] * len(p) + [1] * (len(c) + 1)
        real = sum(len(p) + len(c) + 1 for p, c in examples)
        assert stats == PackStats(
            examples=len(PAIRS), rows=len(rows), real_tokens=real, total_tokens=len(rows) * length
        )
        assert stats.efficiency == pytest.approx(real / (len(rows) * length))


def segment_values(row: dict[str, list[int]], key: str) -> list[list[int]]:
    out: dict[int, list[int]] = {}
    for v, s in zip(row[key], row["segment_ids"], strict=True):
        if s:
            out.setdefault(s, []).append(v)
    return [out[s] for s in sorted(out)]


def test_overlong_drop_and_truncate() -> None:
    examples = [([2] * 3, [3] * 3), ([4] * 8, [5] * 4), ([6], [7] * 9), ([8] * 4, [9])]
    stats = PackStats()
    rows = list(pack_decoder(examples, 8, eos_id=1, pad_id=0, stats=stats))
    assert [p for r in rows for p in unpack_decoder(r, eos_id=1)] == [
        ([2] * 3, [3] * 3),
        ([8] * 4, [9]),
    ]
    assert (stats.examples, stats.dropped_overlong, stats.truncated) == (2, 2, 0)

    stats = PackStats()
    rows = list(pack_decoder(examples, 8, eos_id=1, pad_id=0, overlong="truncate", stats=stats))
    got = [p for r in rows for p in unpack_decoder(r, eos_id=1)]
    # first 8 tokens kept: the second is cut inside its prompt, the third inside its completion
    assert sorted(got) == sorted(
        [([2] * 3, [3] * 3), ([4] * 8, []), ([6], [7] * 7), ([8] * 4, [9])]
    )
    assert (stats.examples, stats.dropped_overlong, stats.truncated) == (4, 0, 2)
    truncated = next(r for r in rows if r["input_ids"][0] == 4)
    assert truncated["loss_mask"] == [0] * 8  # nothing of its completion survived
    for row in rows:
        check_decoder_row(row, 8, 0)


def test_empty_examples_counted_not_packed() -> None:
    stats = PackStats()
    rows = list(pack_decoder([([], []), ([2], [])], 4, eos_id=None, pad_id=0, stats=stats))
    assert [unpack_decoder(r) for r in rows] == [[([2], [])]]
    assert (stats.examples, stats.dropped_empty) == (1, 1)
    # with an EOS, an empty example is one EOS token
    rows = list(pack_decoder([([], [])], 4, eos_id=1, pad_id=0))
    assert rows[0]["input_ids"] == [1, 0, 0, 0] and rows[0]["loss_mask"] == [1, 0, 0, 0]


def test_window_bounds_open_rows() -> None:
    # every example takes more than half a row, so each opens a row of its own
    examples = tagged([([2] * 5, [3]) for _ in range(20)])
    for window in (1, 2, 5):
        feed = Recorder(examples)
        rows, consumed = run(pack_decoder(feed, 10, eos_id=1, pad_id=0, window=window), feed)
        assert consumed[0] == window + 1  # the (window+1)th example pushes out the oldest row
        assert consumed[: 20 - window] == list(range(window + 1, 21))
        indices = [[p[0] - TAG for p, _ in unpack_decoder(r)] for r in rows]
        assert indices == [[i] for i in range(20)]
        check_window(indices, consumed, window)


def test_deterministic() -> None:
    examples = tagged([([2] * (i % 7), [3] * (i * 5 % 11)) for i in range(200)])
    a = list(pack_decoder(examples, 32, eos_id=1, pad_id=0, window=8))
    b = list(pack_decoder(iter(examples), 32, eos_id=1, pad_id=0, window=8))
    assert a == b
    c = list(pack_encoder_decoder(examples, 24, 16, eos_id=1, pad_id=0, window=8))
    d = list(pack_encoder_decoder(iter(examples), 24, 16, eos_id=1, pad_id=0, window=8))
    assert c == d


def test_bigger_window_packs_tighter() -> None:
    examples = tagged([([2] * (i * 37 % 23), [3] * (i * 11 % 13)) for i in range(300)])
    eff = []
    for window in (1, 4, 64):
        stats = PackStats()
        for _ in pack_decoder(examples, 64, eos_id=1, pad_id=0, window=window, stats=stats):
            pass
        eff.append(stats.efficiency)
    assert eff[0] < eff[1] <= eff[2]
    assert eff[2] > 0.95


def test_stats_merge_and_efficiency() -> None:
    assert PackStats().efficiency == 0.0
    a = PackStats(examples=2, rows=1, real_tokens=6, total_tokens=8, truncated=1)
    a.merge(
        PackStats(
            examples=1, rows=1, real_tokens=2, total_tokens=8, dropped_overlong=3, dropped_empty=1
        )
    )
    assert a == PackStats(
        examples=3,
        rows=2,
        real_tokens=8,
        total_tokens=16,
        dropped_overlong=3,
        truncated=1,
        dropped_empty=1,
    )
    assert a.efficiency == 0.5


def test_bad_settings_refused_before_packing() -> None:
    with pytest.raises(PackError, match="length must be a positive number of tokens, not 0"):
        pack_decoder([], 0, eos_id=1, pad_id=0)
    with pytest.raises(PackError, match="overlong must be 'drop' or 'truncate', not 'cut'"):
        pack_decoder([], 8, eos_id=1, pad_id=0, overlong="cut")
    with pytest.raises(PackError, match="window must be at least 1 row, not 0"):
        pack_decoder([], 8, eos_id=1, pad_id=0, window=0)
    with pytest.raises(PackError, match="target_length must be a positive number of tokens"):
        pack_encoder_decoder([], 8, -1, eos_id=1, pad_id=0)
    assert list(pack_decoder([], 8, eos_id=1, pad_id=0)) == []


def test_unpack_reads_arrays_as_from_parquet() -> None:
    (row,) = pack_decoder([([5, 6], [7])], 6, eos_id=1, pad_id=0)
    arrays = {k: np.asarray(v, dtype=np.int32) for k, v in row.items()}
    assert unpack_decoder(arrays, eos_id=1) == [([5, 6], [7])]


# ---------------------------------------------------------------- encoder-decoder packing


def test_encoder_decoder_rows_literally() -> None:
    stats = PackStats()
    rows = list(
        pack_encoder_decoder(
            [([5, 6], [7]), ([8], [9, 10]), ([11], [12, 13, 14])],
            8,
            6,
            eos_id=1,
            pad_id=0,
            stats=stats,
        )
    )
    # the third fits the encoder side of row 1 but not its decoder side: a row of its own
    assert rows == [
        {
            "encoder_input_tokens": [5, 6, 1, 8, 1, 0, 0, 0],
            "encoder_segment_ids": [1, 1, 1, 2, 2, 0, 0, 0],
            "encoder_positions": [0, 1, 2, 0, 1, 0, 0, 0],
            "decoder_target_tokens": [7, 1, 9, 10, 1, 0],
            "decoder_input_tokens": [0, 7, 0, 9, 10, 0],
            "decoder_loss_weights": [1, 1, 1, 1, 1, 0],
            "decoder_segment_ids": [1, 1, 2, 2, 2, 0],
            "decoder_positions": [0, 1, 0, 1, 2, 0],
        },
        {
            "encoder_input_tokens": [11, 1, 0, 0, 0, 0, 0, 0],
            "encoder_segment_ids": [1, 1, 0, 0, 0, 0, 0, 0],
            "encoder_positions": [0, 1, 0, 0, 0, 0, 0, 0],
            "decoder_target_tokens": [12, 13, 14, 1, 0, 0],
            "decoder_input_tokens": [0, 12, 13, 14, 0, 0],
            "decoder_loss_weights": [1, 1, 1, 1, 0, 0],
            "decoder_segment_ids": [1, 1, 1, 1, 0, 0],
            "decoder_positions": [0, 1, 2, 3, 0, 0],
        },
    ]
    assert stats == PackStats(examples=3, rows=2, real_tokens=16, total_tokens=28)
    assert [unpack_encoder_decoder(r, eos_id=1) for r in rows] == [
        [([5, 6], [7]), ([8], [9, 10])],
        [([11], [12, 13, 14])],
    ]
    for row in rows:
        check_encdec_row(row, 8, 6, 0)


def test_encoder_decoder_overlong_either_side() -> None:
    examples = [([2] * 9, [3]), ([4], [5] * 6), ([6] * 2, [7] * 2)]
    stats = PackStats()
    rows = list(pack_encoder_decoder(examples, 8, 6, eos_id=1, pad_id=0, stats=stats))
    assert [p for r in rows for p in unpack_encoder_decoder(r, eos_id=1)] == [([6] * 2, [7] * 2)]
    assert (stats.examples, stats.dropped_overlong, stats.truncated) == (1, 2, 0)

    stats = PackStats()
    rows = list(
        pack_encoder_decoder(examples, 8, 6, eos_id=1, pad_id=0, overlong="truncate", stats=stats)
    )
    got = sorted(p for r in rows for p in unpack_encoder_decoder(r, eos_id=1))
    # each side keeps its first tokens; the cut side loses its EOS, the other keeps it
    assert got == sorted([([2] * 8, [3]), ([4], [5] * 6), ([6] * 2, [7] * 2)])
    long_input = next(r for r in rows if r["encoder_input_tokens"][0] == 2)
    assert long_input["encoder_input_tokens"] == [2] * 8
    assert long_input["decoder_target_tokens"][:2] == [3, 1]
    assert (stats.examples, stats.dropped_overlong, stats.truncated) == (3, 0, 2)


def test_encoder_decoder_round_trip_with_sentencepiece(sp: TextTokenizer) -> None:
    assert sp.eos_id is not None
    inputs = sp.encode_batch([p for p, _ in PAIRS])
    targets = sp.encode_batch([c for _, c in PAIRS])
    in_len = 2 * max(len(i) + 1 for i in inputs)
    tgt_len = 2 * max(len(t) + 1 for t in targets)
    stats = PackStats()
    rows = list(
        pack_encoder_decoder(
            zip(inputs, targets, strict=True),
            in_len,
            tgt_len,
            eos_id=sp.eos_id,
            pad_id=sp.pad_id,
            window=4,
            stats=stats,
        )
    )
    for row in rows:
        check_encdec_row(row, in_len, tgt_len, sp.pad_id)
    texts = [
        (sp.decode(i), sp.decode(t))
        for row in rows
        for i, t in unpack_encoder_decoder(row, eos_id=sp.eos_id)
    ]
    assert sorted(texts) == sorted(PAIRS)
    real = sum(len(i) + len(t) + 2 for i, t in zip(inputs, targets, strict=True))
    assert stats.real_tokens == real
    assert stats.total_tokens == len(rows) * (in_len + tgt_len)


def test_encoder_decoder_window_bound() -> None:
    examples = tagged([([2], [3] * 4) for _ in range(12)])  # each takes most of the decoder side
    feed = Recorder(examples)
    rows, consumed = run(pack_encoder_decoder(feed, 64, 8, eos_id=1, pad_id=0, window=3), feed)
    assert consumed[0] == 4
    indices = [[i[0] - TAG for i, _ in unpack_encoder_decoder(r)] for r in rows]
    assert indices == [[i] for i in range(12)]
    check_window(indices, consumed, 3)


# ---------------------------------------------------------------- properties

ids = st.lists(st.integers(2, 60), max_size=10)
pairs = st.lists(st.tuples(ids, ids), max_size=30)


@settings(max_examples=150, deadline=None)
@given(
    pairs,
    st.integers(1, 24),
    st.integers(1, 5),
    st.sampled_from([None, 1]),
    st.sampled_from(["drop", "truncate"]),
    st.booleans(),
)
def test_decoder_pack_unpack_property(
    raw: list[tuple[list[int], list[int]]],
    length: int,
    window: int,
    eos: int | None,
    overlong: str,
    loss_on_prompt: bool,
) -> None:
    examples = tagged(raw)
    pad = 7  # a real token id too: padding is told by segment ids, not by value
    stats = PackStats()
    feed = Recorder(examples)
    rows, consumed = run(
        pack_decoder(
            feed,
            length,
            eos_id=eos,
            pad_id=pad,
            overlong=overlong,
            window=window,
            loss_on_prompt=loss_on_prompt,
            stats=stats,
        ),
        feed,
    )
    expected: dict[int, tuple[list[int], list[int]]] = {}
    truncated = dropped = 0
    for i, (p, c) in enumerate(examples):
        full = p + c + ([] if eos is None else [eos])
        if len(full) > length:
            if overlong == "drop":
                dropped += 1
                continue
            truncated += 1
            kept = full[:length]
            expected[i] = (kept[: len(p)], kept[len(p) :])
        else:
            expected[i] = (p, c)
    got: dict[int, tuple[list[int], list[int]]] = {}
    indices = []
    for row in rows:
        check_decoder_row(row, length, pad)
        segs = unpack_decoder(row, eos_id=eos)
        index = []
        for p, c in segs:
            if loss_on_prompt:  # the split is not recorded; recover it from the original
                whole = p + c
                n = len(examples[whole[0] - TAG][0])
                p, c = whole[:n], whole[n:]
            index.append(p[0] - TAG)
            got[p[0] - TAG] = (p, c)
        assert index == sorted(index)
        indices.append(index)
    assert got == expected
    assert sum(len(i) for i in indices) == len(expected)
    check_window(indices, consumed, window)
    assert stats.examples == len(expected)
    assert (stats.dropped_overlong, stats.truncated, stats.rows) == (dropped, truncated, len(rows))
    assert stats.real_tokens == sum(sum(1 for s in r["segment_ids"] if s) for r in rows)
    assert stats.total_tokens == len(rows) * length


@settings(max_examples=150, deadline=None)
@given(
    pairs,
    st.integers(1, 20),
    st.integers(1, 12),
    st.integers(1, 4),
    st.sampled_from([None, 1]),
    st.sampled_from(["drop", "truncate"]),
)
def test_encoder_decoder_pack_unpack_property(
    raw: list[tuple[list[int], list[int]]],
    in_len: int,
    tgt_len: int,
    window: int,
    eos: int | None,
    overlong: str,
) -> None:
    examples = tagged(raw)
    stats = PackStats()
    feed = Recorder(examples)
    rows, consumed = run(
        pack_encoder_decoder(
            feed,
            in_len,
            tgt_len,
            eos_id=eos,
            pad_id=0,
            overlong=overlong,
            window=window,
            stats=stats,
        ),
        feed,
    )
    tail = [] if eos is None else [eos]
    expected: dict[int, tuple[list[int], list[int]]] = {}
    for i, (p, c) in enumerate(examples):
        enc, dec = p + tail, c + tail
        if len(enc) > in_len or len(dec) > tgt_len:
            if overlong == "drop":
                continue
            enc, dec = enc[:in_len], dec[:tgt_len]
        expected[i] = (without_eos(enc, eos), without_eos(dec, eos))
    got: dict[int, tuple[list[int], list[int]]] = {}
    indices = []
    for row in rows:
        check_encdec_row(row, in_len, tgt_len, 0)
        index = []
        for enc, dec in unpack_encoder_decoder(row, eos_id=eos):
            index.append(enc[0] - TAG)
            got[enc[0] - TAG] = (enc, dec)
        assert index == sorted(index)
        indices.append(index)
    assert got == expected
    check_window(indices, consumed, window)
    assert stats.examples == len(expected) and stats.rows == len(rows)
    assert stats.total_tokens == len(rows) * (in_len + tgt_len)
