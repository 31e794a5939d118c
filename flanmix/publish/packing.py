"""Tokenize and pack examples into fixed-length rows for GPU/TPU trainers.

A tokenizer is a Hugging Face `tokenizers` JSON file or a sentencepiece `.model` file given by
path (local or any fsspec URL such as gs://; never a hub download). `TextTokenizer` holds only
the path and the file's sha256, so Beam can pickle it to workers; each process loads the library
object once, on first use, and refuses a file whose bytes changed since the build started.

Packing is first-fit over a bounded window of open rows, in arrival order (a shard's hash order):
a full row leaves the window at once, and when nothing fits a full window the oldest open row is
emitted. Deterministic, with memory bounded by the window. Decoder-only rows carry `input_ids`,
`loss_mask`, `segment_ids` and `positions`; encoder-decoder rows follow seqio's
EncDecFeatureConverter with packing, so T5X-style trainers can read them as they are.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from flanmix.errors import FlanmixError
from flanmix.sources.files import is_url, open_path

EOS_TOKENS = ("</s>", "<|endoftext|>", "<eos>", "[SEP]", "<|eos|>")
PAD_TOKENS = ("<pad>", "[PAD]")
OVERLONG = ("drop", "truncate")
INSTALL_HINT = "pip install 'flanmix[tokenizers]'"

T = TypeVar("T")


# The packed rows' features: seqio's names for T5 (encoder-decoder).
DECODER_FEATURES = ("input_ids", "loss_mask", "segment_ids", "positions")
ENCODER_DECODER_FEATURES = (
    "encoder_input_tokens",
    "encoder_segment_ids",
    "encoder_positions",
    "decoder_target_tokens",
    "decoder_input_tokens",
    "decoder_loss_weights",
    "decoder_segment_ids",
    "decoder_positions",
)


class TokenizerError(FlanmixError):
    """A tokenizer file is missing, of an unknown kind, unreadable, or lacks a needed token."""


class PackError(FlanmixError):
    """Packing was asked for with impossible settings (length, window, overlong rule)."""


# (path, sha256) -> the loaded tokenizers.Tokenizer or sentencepiece.SentencePieceProcessor.
# One per process: Beam workers fill it on first use instead of unpickling library objects.
_LOADED: dict[tuple[str, str], Any] = {}


@dataclass(frozen=True)
class TextTokenizer:
    """A tokenizer known by its file; picklable, loading the library object lazily per process.

    `pad_id` is the model's own pad id when it defines one, else 0; `eos_id` is None when the
    model has no end-of-sequence token.
    """

    path: str
    sha256: str
    kind: str  # "tokenizers" | "sentencepiece"
    eos_id: int | None
    pad_id: int

    def _backend(self) -> Any:
        key = (self.path, self.sha256)
        backend = _LOADED.get(key)
        if backend is None:
            data = _read(self.path)
            digest = hashlib.sha256(data).hexdigest()
            if digest != self.sha256:
                raise TokenizerError(
                    f"tokenizer {self.path} changed while the build was running "
                    f"(sha256 {digest[:12]}…, expected {self.sha256[:12]}…); "
                    "rerun the build with the file left in place"
                )
            backend = _load_bytes(self.path, self.kind, data)
            _LOADED[key] = backend
        return backend

    def encode(self, text: str) -> list[int]:
        """Token ids of `text`, with no special tokens (BOS/EOS) added."""
        backend = self._backend()
        if self.kind == "tokenizers":
            return list(backend.encode(text, add_special_tokens=False).ids)
        return list(backend.encode(text))

    def encode_batch(self, texts: list[str]) -> list[list[int]]:
        """`encode` over many texts at once (the Rust tokenizer runs them in parallel)."""
        if not texts:
            return []
        backend = self._backend()
        if self.kind == "tokenizers":
            return [list(e.ids) for e in backend.encode_batch(texts, add_special_tokens=False)]
        return [list(ids) for ids in backend.encode(list(texts))]

    def decode(self, ids: list[int]) -> str:
        """The text of `ids`; special tokens (EOS, padding) decode to nothing."""
        backend = self._backend()
        ids = [int(i) for i in ids]
        if self.kind == "tokenizers":
            return str(backend.decode(ids, skip_special_tokens=True))
        return str(backend.decode(ids))


def load_tokenizer(path: str, need_eos: bool = True) -> TextTokenizer:
    """Load a `.json` (tokenizers) or `.model` (sentencepiece) file from a path or fsspec URL.

    With `need_eos`, a model without an end-of-sequence token is refused here, before any
    building starts, rather than producing rows whose examples run into each other.
    """
    name = path.rsplit("/", 1)[-1] if is_url(path) else Path(path).name
    suffix = Path(name).suffix
    if suffix == ".json":
        kind = "tokenizers"
    elif suffix == ".model":
        kind = "sentencepiece"
    else:
        raise TokenizerError(
            f"tokenizer {path} must end in .json (a Hugging Face tokenizers file) "
            "or .model (a sentencepiece model)"
        )
    where = path if is_url(path) else str(Path(path).expanduser().resolve())
    data = _read(where)
    sha256 = hashlib.sha256(data).hexdigest()
    backend = _load_bytes(where, kind, data)
    if kind == "tokenizers":
        eos_id, pad_id = _hf_special_ids(backend)
    else:
        eos_id = int(backend.eos_id()) if backend.eos_id() >= 0 else None
        pad_id = int(backend.pad_id()) if backend.pad_id() >= 0 else 0
    if need_eos and eos_id is None:
        if kind == "tokenizers":
            why = (
                f"has none of the end-of-sequence tokens {', '.join(EOS_TOKENS)} in its vocabulary"
            )
            fix = "use a tokenizer with an EOS token"
        else:
            why = "has no EOS id (its eos_id() is -1)"
            fix = "train the model with an EOS piece (spm_train --eos_id)"
        raise TokenizerError(
            f"tokenizer {path} {why}, so a model could not learn where an example ends; "
            f"pass --no-eos to pack without an EOS token, or {fix}"
        )
    _LOADED[(where, sha256)] = backend
    return TextTokenizer(where, sha256, kind, eos_id, pad_id)


def _read(path: str) -> bytes:
    """The file's bytes; URLs through fsspec (the file is small enough to hold in memory)."""
    if not is_url(path):
        p = Path(path)
        if not p.exists():
            raise TokenizerError(f"tokenizer {path} does not exist")
        if not p.is_file():
            raise TokenizerError(f"tokenizer {path} is not a file")
    try:
        with open_path(path, "rb") as f:
            return bytes(f.read())
    except FileNotFoundError:
        raise TokenizerError(f"tokenizer {path} does not exist") from None
    except (OSError, ValueError) as e:
        raise TokenizerError(f"tokenizer {path} cannot be read: {e}") from None


def _load_bytes(path: str, kind: str, data: bytes) -> Any:
    if kind == "tokenizers":
        try:
            from tokenizers import Tokenizer
        except ImportError:
            raise TokenizerError(
                f"tokenizer {path} needs the `tokenizers` package ({INSTALL_HINT})"
            ) from None
        try:
            return Tokenizer.from_str(data.decode("utf-8"))
        except UnicodeDecodeError as e:
            raise TokenizerError(
                f"tokenizer {path} does not load: not UTF-8 JSON ({e.reason} at byte {e.start})"
            ) from None
        except Exception as e:  # the library raises plain Exceptions for bad files
            raise TokenizerError(
                f"tokenizer {path} does not load as a tokenizers JSON file: {e}"
            ) from None
    try:
        import sentencepiece
    except ImportError:
        raise TokenizerError(
            f"tokenizer {path} needs the `sentencepiece` package ({INSTALL_HINT})"
        ) from None
    try:
        return sentencepiece.SentencePieceProcessor(model_proto=data)
    except Exception as e:  # RuntimeError with the protobuf parser's message
        raise TokenizerError(
            f"tokenizer {path} does not load as a sentencepiece model: {str(e).strip()}"
        ) from None


def _hf_special_ids(tok: Any) -> tuple[int | None, int]:
    eos_id = next(
        (i for i in (tok.token_to_id(t) for t in EOS_TOKENS) if i is not None),
        None,
    )
    padding = tok.padding
    if padding and padding.get("pad_id") is not None and padding["pad_id"] >= 0:
        return eos_id, int(padding["pad_id"])
    pad_id = next((i for i in (tok.token_to_id(t) for t in PAD_TOKENS) if i is not None), 0)
    return eos_id, int(pad_id)


@dataclass
class PackStats:
    """Counts of one packing run; `merge` sums runs (one per shard) into the build's total."""

    examples: int = 0  # examples packed (whole or truncated)
    rows: int = 0  # packed rows written
    real_tokens: int = 0  # non-padding tokens (both sides for encoder-decoder)
    total_tokens: int = 0  # rows * length (both sides for encoder-decoder)
    dropped_overlong: int = 0
    truncated: int = 0
    dropped_empty: int = 0  # examples with no tokens at all (empty texts and no EOS)

    def merge(self, other: PackStats) -> None:
        for f in dataclasses.fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))

    @property
    def efficiency(self) -> float:
        """Real tokens / total tokens: the share of the rows that is not padding."""
        return self.real_tokens / self.total_tokens if self.total_tokens else 0.0


def _check_settings(lengths: Mapping[str, int], overlong: str, window: int) -> None:
    for name, value in lengths.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise PackError(f"{name} must be a positive number of tokens, not {value!r}")
    if overlong not in OVERLONG:
        raise PackError(f"overlong must be 'drop' or 'truncate', not {overlong!r}")
    if isinstance(window, bool) or not isinstance(window, int) or window < 1:
        raise PackError(f"the packing window must be at least 1 row, not {window!r}")


def _first_fit(
    items: Iterable[tuple[int, int, T]], caps: tuple[int, int], window: int, two_sided: bool
) -> Iterator[list[T]]:
    """Group sized items into rows: first fit over at most `window` open rows, oldest first.

    Each item is (size, second size, payload); the second size is 0 for one-sided rows. A row
    that can take nothing more (a side is full) is emitted at once; when nothing fits and
    `window` rows are open, the oldest is emitted to make room; the rest come out at the end in
    the order they were opened.
    """
    rows: list[list[T]] = []
    free_a: list[int] = []
    free_b: list[int] = []
    for a, b, payload in items:
        for i in range(len(rows)):
            if a <= free_a[i] and b <= free_b[i]:
                rows[i].append(payload)
                free_a[i] -= a
                free_b[i] -= b
                if free_a[i] == 0 or (two_sided and free_b[i] == 0):
                    del free_a[i], free_b[i]
                    yield rows.pop(i)
                break
        else:
            if a == caps[0] or (two_sided and b == caps[1]):
                yield [payload]  # a row of its own, full already
                continue
            if len(rows) >= window:
                del free_a[0], free_b[0]
                yield rows.pop(0)
            rows.append([payload])
            free_a.append(caps[0] - a)
            free_b.append(caps[1] - b)
    yield from rows


def pack_decoder(
    examples: Iterable[tuple[list[int], list[int]]],
    length: int,
    *,
    eos_id: int | None,
    pad_id: int,
    overlong: str = "drop",
    window: int = 64,
    loss_on_prompt: bool = False,
    stats: PackStats | None = None,
) -> Iterator[dict[str, list[int]]]:
    """Pack (prompt ids, completion ids) examples into decoder-only rows of `length` tokens.

    Each example becomes one segment: prompt + completion (+ EOS). `loss_mask` is 1 on the
    completion and EOS (and on the prompt with `loss_on_prompt`); `segment_ids` number the
    examples of a row from 1 and `positions` restart at 0 for each, so a trainer can keep
    attention inside a segment; padding has segment id, position and loss mask 0.
    Settings are checked at once; rows are produced lazily.
    """
    _check_settings({"length": length}, overlong, window)
    st = stats if stats is not None else PackStats()
    return _pack_decoder(examples, length, eos_id, pad_id, overlong, window, loss_on_prompt, st)


def _pack_decoder(
    examples: Iterable[tuple[Sequence[int], Sequence[int]]],
    length: int,
    eos_id: int | None,
    pad_id: int,
    overlong: str,
    window: int,
    loss_on_prompt: bool,
    stats: PackStats,
) -> Iterator[dict[str, list[int]]]:
    tail = [] if eos_id is None else [eos_id]

    def sized() -> Iterator[tuple[int, int, tuple[list[int], list[int]]]]:
        for prompt, completion in examples:
            tokens = [*prompt, *completion, *tail]
            if not tokens:
                stats.dropped_empty += 1
                continue
            mask = [int(loss_on_prompt)] * len(prompt) + [1] * (len(completion) + len(tail))
            if len(tokens) > length:
                if overlong == "drop":
                    stats.dropped_overlong += 1
                    continue
                stats.truncated += 1
                tokens, mask = tokens[:length], mask[:length]
            stats.examples += 1
            yield len(tokens), 0, (tokens, mask)

    for segments in _first_fit(sized(), (length, 0), window, two_sided=False):
        row: dict[str, list[int]] = {key: [] for key in DECODER_FEATURES}
        for seg, (tokens, mask) in enumerate(segments, start=1):
            row["input_ids"] += tokens
            row["loss_mask"] += mask
            row["segment_ids"] += [seg] * len(tokens)
            row["positions"] += range(len(tokens))
        used = len(row["input_ids"])
        pad = length - used
        row["input_ids"] += [pad_id] * pad
        for key in ("loss_mask", "segment_ids", "positions"):
            row[key] += [0] * pad
        stats.rows += 1
        stats.real_tokens += used
        stats.total_tokens += length
        yield row


def pack_encoder_decoder(
    examples: Iterable[tuple[list[int], list[int]]],
    input_length: int,
    target_length: int,
    *,
    eos_id: int | None,
    pad_id: int,
    overlong: str = "drop",
    window: int = 64,
    stats: PackStats | None = None,
) -> Iterator[dict[str, list[int]]]:
    """Pack (input ids, target ids) examples into T5-style rows, as seqio's EncDecFeatureConverter.

    Inputs (+ EOS) fill the encoder side of `input_length` tokens, targets (+ EOS) the decoder
    side of `target_length`; an example joins a row only if both sides have room, and is
    overlong if either side is too long (with "truncate", each side keeps its first tokens).
    `decoder_input_tokens` are the targets shifted right by one within each segment, with 0 at
    each segment's start (seqio's autoregressive_inputs with sequence ids).
    """
    _check_settings(
        {"input_length": input_length, "target_length": target_length}, overlong, window
    )
    st = stats if stats is not None else PackStats()
    return _pack_encoder_decoder(
        examples, input_length, target_length, eos_id, pad_id, overlong, window, st
    )


def _pack_encoder_decoder(
    examples: Iterable[tuple[Sequence[int], Sequence[int]]],
    input_length: int,
    target_length: int,
    eos_id: int | None,
    pad_id: int,
    overlong: str,
    window: int,
    stats: PackStats,
) -> Iterator[dict[str, list[int]]]:
    tail = [] if eos_id is None else [eos_id]

    def sized() -> Iterator[tuple[int, int, tuple[list[int], list[int]]]]:
        for inputs, targets in examples:
            enc, dec = [*inputs, *tail], [*targets, *tail]
            if not enc and not dec:
                stats.dropped_empty += 1
                continue
            if len(enc) > input_length or len(dec) > target_length:
                if overlong == "drop":
                    stats.dropped_overlong += 1
                    continue
                stats.truncated += 1
                enc, dec = enc[:input_length], dec[:target_length]
            stats.examples += 1
            yield len(enc), len(dec), (enc, dec)

    caps = (input_length, target_length)
    for segments in _first_fit(sized(), caps, window, two_sided=True):
        row: dict[str, list[int]] = {key: [] for key in ENCODER_DECODER_FEATURES}
        for seg, (enc, dec) in enumerate(segments, start=1):
            row["encoder_input_tokens"] += enc
            row["encoder_segment_ids"] += [seg] * len(enc)
            row["encoder_positions"] += range(len(enc))
            row["decoder_target_tokens"] += dec
            row["decoder_input_tokens"] += [0, *dec[:-1]] if dec else []
            row["decoder_loss_weights"] += [1] * len(dec)
            row["decoder_segment_ids"] += [seg] * len(dec)
            row["decoder_positions"] += range(len(dec))
        enc_used = len(row["encoder_input_tokens"])
        dec_used = len(row["decoder_target_tokens"])
        enc_pad, dec_pad = input_length - enc_used, target_length - dec_used
        row["encoder_input_tokens"] += [pad_id] * enc_pad
        row["encoder_segment_ids"] += [0] * enc_pad
        row["encoder_positions"] += [0] * enc_pad
        row["decoder_target_tokens"] += [pad_id] * dec_pad
        row["decoder_input_tokens"] += [pad_id] * dec_pad
        for key in ("decoder_loss_weights", "decoder_segment_ids", "decoder_positions"):
            row[key] += [0] * dec_pad
        stats.rows += 1
        stats.real_tokens += enc_used + dec_used
        stats.total_tokens += input_length + target_length
        yield row


def _segments(tokens: Iterable[int], segment_ids: Iterable[int]) -> dict[int, list[int]]:
    """Token ids per nonzero segment id, in row order."""
    out: dict[int, list[int]] = {}
    for tok, seg in zip(tokens, segment_ids, strict=True):
        if int(seg):
            out.setdefault(int(seg), []).append(int(tok))
    return out


def _strip_eos(ids: list[int], eos_id: int | None) -> list[int]:
    return ids[:-1] if eos_id is not None and ids and ids[-1] == eos_id else ids


def unpack_decoder(
    row: Mapping[str, Iterable[int]], *, eos_id: int | None = None
) -> list[tuple[list[int], list[int]]]:
    """Each segment's (prompt ids, completion ids), padding removed, for checking a row.

    The split is read from `loss_mask`, so rows packed with `loss_on_prompt` come back with
    everything in the completion. The trailing EOS is removed when `eos_id` is given (a row
    does not record which id was its EOS).
    """
    ids = _segments(row["input_ids"], row["segment_ids"])
    masks = _segments(row["loss_mask"], row["segment_ids"])
    out = []
    for seg, tokens in ids.items():
        mask = masks[seg]
        if eos_id is not None and tokens[-1] == eos_id and mask[-1]:
            tokens, mask = tokens[:-1], mask[:-1]
        split = next((i for i, m in enumerate(mask) if m), len(mask))
        out.append((tokens[:split], tokens[split:]))
    return out


def unpack_encoder_decoder(
    row: Mapping[str, Iterable[int]], *, eos_id: int | None = None
) -> list[tuple[list[int], list[int]]]:
    """Each segment's (input ids, target ids), padding removed (and each side's trailing EOS
    when `eos_id` is given), for checking a row."""
    enc = _segments(row["encoder_input_tokens"], row["encoder_segment_ids"])
    dec = _segments(row["decoder_target_tokens"], row["decoder_segment_ids"])
    return [
        (_strip_eos(enc.get(seg, []), eos_id), _strip_eos(dec.get(seg, []), eos_id))
        for seg in sorted(enc.keys() | dec.keys())
    ]
