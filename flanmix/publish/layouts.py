"""Trainer layouts: the same rows as the `flan` columns, reshaped for common trainers, and
pre-tokenized packed rows. Each layout is its own folder (and Hub config) beside `data/`,
with the same shard count and row order: shard i of every layout comes from flan shard i.

- `prompt-completion`: `prompt`, `completion` (TRL's prompt-completion format; torchtune and
  axolotl map columns onto it), plus the provenance columns.
- `messages`: `messages`, a list of {role, content} structs (user = inputs, assistant =
  targets), plus the provenance columns.
- `text`: one `text` column, inputs + joiner + targets, plus the provenance columns.
- `packed`: token ids packed into rows of exactly the pack length (see publish/packing.py).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from flanmix.errors import FlanmixError
from flanmix.publish.parquet import COLUMNS, SCHEMA

LAYOUTS = ("flan", "prompt-completion", "messages", "text")
PACKED = "packed"
PROVENANCE = [c for c in COLUMNS if c not in ("inputs", "targets")]
MESSAGE = pa.struct([("role", pa.string()), ("content", pa.string())])


@dataclass(frozen=True)
class LayoutOptions:
    """What a build writes besides the `flan` columns in data/."""

    layouts: tuple[str, ...] = ()  # besides flan, in the order given
    text_joiner: str = "\n\n"
    fewshot_as_turns: bool = False  # messages: few-shot rows as user/assistant turns
    tokenizer: str | None = None  # a tokenizers .json or sentencepiece .model path
    pack: int | None = None  # decoder-only length, or the encoder length with pack_targets
    pack_targets: int | None = None  # encoder-decoder packing: the decoder length
    overlong: str = "drop"  # drop | truncate
    eos: bool = True
    loss_on_prompt: bool = False
    pack_window: int = 64
    loaded: Any = None  # the TextTokenizer the driver loaded (workers check its sha256)

    @property
    def folders(self) -> list[str]:
        return [*self.layouts, *([PACKED] if self.pack else [])]

    @property
    def any(self) -> bool:
        return bool(self.layouts or self.pack or self.tokenizer)


def check_layouts(names: list[str]) -> tuple[str, ...]:
    """The extra layouts asked for (flan is always written), in order, without repeats."""
    out: list[str] = []
    for name in names:
        if name not in LAYOUTS:
            raise FlanmixError(
                f"unknown layout '{name}'; valid layouts: {', '.join(LAYOUTS)} (and --pack "
                "for pre-tokenized packed rows)"
            )
        if name != "flan" and name not in out:
            out.append(name)
    return tuple(out)


def layout_options(**kwargs: Any) -> LayoutOptions:
    """LayoutOptions from the command line's values, checked (before anything is built)."""
    opts = LayoutOptions(**kwargs)
    if opts.pack is not None and not opts.tokenizer:
        raise FlanmixError("--pack needs --tokenizer PATH (a tokenizers .json or .model file)")
    if opts.fewshot_as_turns and "messages" not in opts.layouts:
        raise FlanmixError("--fewshot-as-turns shapes the messages layout: add --layout messages")
    if opts.pack_targets is not None and opts.pack is None:
        raise FlanmixError("--pack-target-length needs --pack LENGTH (the encoder's length)")
    for what, n in (("--pack", opts.pack), ("--pack-target-length", opts.pack_targets)):
        if n is not None and n < 2:
            raise FlanmixError(f"{what} must be at least 2 tokens, got {n}")
    if not opts.pack:
        ignored = [
            flag
            for flag, on in (
                ("--overlong truncate", opts.overlong != "drop"),
                ("--no-eos", not opts.eos),
                ("--loss-on-prompt", opts.loss_on_prompt),
            )
            if on
        ]
        if ignored:
            raise FlanmixError(f"{', '.join(ignored)} apply to packing: add --pack LENGTH")
    if opts.loss_on_prompt and opts.pack_targets:
        raise FlanmixError("--loss-on-prompt is for decoder-only packing (encoders have no loss)")
    if opts.text_joiner != "\n\n" and "text" not in opts.layouts:
        raise FlanmixError("--text-joiner shapes the text layout: add --layout text")
    if opts.overlong not in ("drop", "truncate"):
        raise FlanmixError(f"--overlong must be drop or truncate, got '{opts.overlong}'")
    return dataclasses.replace(opts, layouts=check_layouts(list(opts.layouts)))


def folder_shard(folder: str, index: int, count: int) -> str:
    return f"{folder}/train-{index:05d}-of-{count:05d}.parquet"


def layout_schema(layout: str) -> pa.Schema:
    provenance = [SCHEMA.field(c) for c in PROVENANCE]
    main = {
        "prompt-completion": [pa.field("prompt", pa.string()), pa.field("completion", pa.string())],
        "messages": [pa.field("messages", pa.list_(MESSAGE))],
        "text": [pa.field("text", pa.string())],
    }[layout]
    return pa.schema(main + provenance)


def convert(table: pa.Table, layout: str, opts: LayoutOptions) -> pa.Table:
    """Flan rows (the SCHEMA columns) in another layout, same order."""
    inputs, targets = table["inputs"], table["targets"]
    if layout == "prompt-completion":
        main = [inputs, targets]
    elif layout == "text":
        joiner = pa.scalar(opts.text_joiner, pa.string())
        main = [pc.binary_join_element_wise(inputs, targets, joiner)]
    elif layout == "messages" and opts.fewshot_as_turns and "turns" in table.column_names:
        main = [_turn_messages(table)]
    elif layout == "messages":
        main = [_messages(inputs.combine_chunks(), targets.combine_chunks())]
    else:
        raise FlanmixError(f"unknown layout '{layout}'")
    schema = layout_schema(layout)
    return pa.Table.from_arrays(main + [table[c] for c in PROVENANCE], schema=schema)


def _messages(inputs: pa.Array, targets: pa.Array) -> pa.Array:
    """[{user: input}, {assistant: target}] per row, built from Arrow arrays directly."""
    n = len(inputs)
    roles = pa.array(["user", "assistant"] * n, pa.string())
    interleaved = np.stack([np.arange(n), np.arange(n) + n], axis=1).ravel()
    contents = pa.concat_arrays([inputs, targets]).take(pa.array(interleaved))
    structs = pa.StructArray.from_arrays([roles, contents], fields=list(MESSAGE))
    offsets = pa.array(range(0, 2 * n + 1, 2), pa.int32())
    return pa.ListArray.from_arrays(offsets, structs, type=pa.list_(MESSAGE))


def _turn_messages(table: pa.Table) -> pa.Array:
    """Messages with a few-shot row's exemplars as alternating user/assistant turns (its
    `turns`: header + first input, first target, …, the query's input), then the target."""
    rows = []
    for turns, inputs, target in zip(
        table["turns"].to_pylist(),
        table["inputs"].to_pylist(),
        table["targets"].to_pylist(),
        strict=True,
    ):
        said = turns or [inputs]
        roles = ["user" if i % 2 == 0 else "assistant" for i in range(len(said))]
        rows.append(
            [{"role": r, "content": c} for r, c in zip(roles, said, strict=True)]
            + [{"role": "assistant", "content": target}]
        )
    return pa.array(rows, pa.list_(MESSAGE))


def card_snippets(layouts: list[str], repo: str = "path/or/repo") -> Iterator[str]:
    """Markdown: how to load each layout and hand it to common trainers (our own examples;
    format names as TRL, torchtune and axolotl document them)."""
    for layout in layouts:
        yield f"### `{layout}`"
        yield ""
        yield "```python"
        yield "from datasets import load_dataset"
        yield f'ds = load_dataset("{repo}", "{layout}", split="train")'
        yield "```"
        yield ""
        yield from _SNIPPETS.get(layout, [])
        yield ""


_SNIPPETS = {
    "prompt-completion": [
        "TRL's `SFTTrainer` takes `prompt`/`completion` columns as its prompt-completion "
        "format (loss on the completion only by default):",
        "",
        "```python",
        "from trl import SFTConfig, SFTTrainer",
        'trainer = SFTTrainer(model="Qwen/Qwen2.5-0.5B", train_dataset=ds, '
        'args=SFTConfig(output_dir="out"))',
        "```",
        "",
        "axolotl: `datasets: [{path: <repo>, name: prompt-completion, type: "
        "{field_instruction: prompt, field_output: completion, format: '{instruction}', "
        "no_input_format: '{instruction}'}}]`. torchtune: `instruct_dataset(source=<repo>, "
        'column_map={"input": "prompt", "output": "completion"}, train_on_input=False)`.',
    ],
    "messages": [
        "A conversational dataset: TRL's `SFTTrainer` applies the model's chat template to "
        "`messages` (`assistant_only_loss=True` needs a template with generation markers):",
        "",
        "```python",
        "from trl import SFTConfig, SFTTrainer",
        'trainer = SFTTrainer(model="Qwen/Qwen2.5-0.5B-Instruct", train_dataset=ds, '
        'args=SFTConfig(output_dir="out"))',
        "```",
        "",
        "axolotl: `datasets: [{path: <repo>, name: messages, type: chat_template, "
        "field_messages: messages}]`. torchtune: `chat_dataset(tokenizer, source=<repo>, "
        'name="messages", conversation_column="messages", conversation_style="openai")`.',
    ],
    "text": [
        "Plain language modelling (loss on every token): TRL's `SFTTrainer` takes a `text` "
        'column as is (`SFTConfig(dataset_text_field="text")`); axolotl: `type: completion`; '
        'torchtune: `text_completion_dataset(tokenizer, source=<repo>, name="text", '
        'column="text")`.',
    ],
    PACKED: [
        "Pre-tokenized rows of exactly the pack length: feed `input_ids`, mask attention "
        "with `segment_ids` (0 = padding), restart `positions` per example and weight the "
        "loss with `loss_mask` (encoder-decoder packs have seqio's T5 feature names). "
        "Decode with the tokenizer whose checksum is in manifest.json.",
    ],
}


def layout_records(
    shards: list[dict[str, Any]], opts: LayoutOptions, tokenizer: Any, stats: dict[str, Any]
) -> dict[str, Any]:
    """The manifest's `layouts` (and `tokenizer`) from the shard writers' reports; adds
    packing efficiency and token counts to `stats` (per leaf, and in total)."""
    count = len(shards)
    layouts: dict[str, Any] = {}
    for folder in opts.folders:
        layouts[folder] = [
            {"path": folder_shard(folder, s["index"], count), **s["layouts"]["files"][folder]}
            for s in shards
        ]
    out: dict[str, Any] = {"layouts": layouts}
    if tokenizer is None:
        return out
    out["tokenizer"] = {
        "file": tokenizer.path.rsplit("/", 1)[-1],  # not the local path: it gets published
        "kind": tokenizer.kind,
        "sha256": tokenizer.sha256,
        "eos_id": tokenizer.eos_id,
        "pad_id": tokenizer.pad_id,
    }
    tokens: dict[str, dict[str, int]] = {}
    for s in shards:
        for leaf, n in s["layouts"]["tokens"].items():
            mine = tokens.setdefault(leaf, {"inputs": 0, "targets": 0})
            mine["inputs"] += n["inputs"]
            mine["targets"] += n["targets"]
    total = sum(n["inputs"] + n["targets"] for n in tokens.values())
    for leaf in stats["leaves"]:
        n = tokens.get(leaf["leaf"], {"inputs": 0, "targets": 0})
        leaf["tokens"] = {**n, "share": (n["inputs"] + n["targets"]) / total if total else 0.0}
    stats["tokens"] = {
        "tokenizer_sha256": tokenizer.sha256,
        "inputs": sum(n["inputs"] for n in tokens.values()),
        "targets": sum(n["targets"] for n in tokens.values()),
    }
    if opts.pack:
        pack = shards[0]["layouts"]["pack"].__class__()
        for s in shards:
            pack.merge(s["layouts"]["pack"])
        stats["packing"] = {
            "kind": "encoder-decoder" if opts.pack_targets else "decoder",
            "length": opts.pack,
            **({"target_length": opts.pack_targets} if opts.pack_targets else {}),
            "overlong": opts.overlong,
            "examples": pack.examples,
            "rows": pack.rows,
            "real_tokens": pack.real_tokens,
            "total_tokens": pack.total_tokens,
            "efficiency": pack.efficiency,
            "dropped_overlong": pack.dropped_overlong,
            "truncated": pack.truncated,
        }
    return out
