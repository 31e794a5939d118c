"""Writing shard i of every extra layout while flan shard i is written: the shard writer shows
each piece of rows (in hash order) to `LayoutShards.add`, which converts and streams it into
one Parquet file per layout, and tokenizes and packs it for the packed layout. Memory: one
row group per layout plus the packer's window."""

from __future__ import annotations

import itertools
import queue
import threading
from collections.abc import Iterator
from contextlib import ExitStack
from typing import Any

import numpy as np
import pyarrow as pa

from flanmix.publish.layouts import PACKED, LayoutOptions, convert, folder_shard, layout_schema
from flanmix.publish.packing import (
    DECODER_FEATURES,
    ENCODER_DECODER_FEATURES,
    PackStats,
    load_tokenizer,
    pack_decoder,
    pack_encoder_decoder,
)
from flanmix.publish.spill import ShardFile

PACKED_BATCH = 64  # packed rows (Python lists: ~300 KB each) per table handed to the writer
TOKENIZE_ROWS = 1024  # rows tokenized at once
DECODER = pa.schema([(name, pa.list_(pa.int32())) for name in DECODER_FEATURES])
ENCODER_DECODER = pa.schema([(name, pa.list_(pa.int32())) for name in ENCODER_DECODER_FEATURES])


def packed_schema(opts: LayoutOptions) -> pa.Schema:
    return ENCODER_DECODER if opts.pack_targets else DECODER


class LayoutShards:
    """Shard `index` of `count` of every extra layout, fed the flan rows of that shard."""

    def __init__(
        self,
        staging: str,
        index: int,
        count: int,
        opts: LayoutOptions,
        leaves: list[tuple[str, str]],
    ) -> None:
        self.opts = opts
        self.leaves = leaves
        self.stack = ExitStack()
        self.sinks = {
            layout: ShardFile(
                f"{staging}/{folder_shard(layout, index, count)}", layout_schema(layout), self.stack
            )
            for layout in opts.layouts
        }
        self.tokenizer: Any = None
        self.pack_stats: Any = None
        if opts.tokenizer:  # the tokenizers extra is needed only then (loaded lazily)
            # The driver's tokenizer: it loads once per process and checks the file's sha256.
            self.tokenizer = opts.loaded or load_tokenizer(
                opts.tokenizer, need_eos=opts.eos and bool(opts.pack)
            )
            self.pack_stats = PackStats()
        if opts.pack:
            path = f"{staging}/{folder_shard(PACKED, index, count)}"
            self.sinks[PACKED] = ShardFile(path, packed_schema(opts), self.stack)
        self.tokens: dict[int, list[int]] = {}  # leaf id -> [input tokens, target tokens]
        self._pieces: queue.Queue[Any] = queue.Queue(maxsize=2)  # bounds what waits to pack
        self._packer: threading.Thread | None = None
        self._failure: BaseException | None = None
        self._ended = False  # the packer has seen the end of the shard

    def add(self, table: pa.Table) -> None:
        """A piece of the flan shard (SCHEMA columns plus `leaf_id`), in shard order."""
        for layout in self.opts.layouts:
            self.sinks[layout].add(convert(table, layout, self.opts))
        if self.tokenizer is None:
            return
        # Token ids are Python lists (~36 bytes a token): tokenize a slice at a time.
        for start in range(0, table.num_rows, TOKENIZE_ROWS):
            self._tokenize(table.slice(start, TOKENIZE_ROWS))

    def _tokenize(self, table: pa.Table) -> None:
        assert self.tokenizer is not None
        inputs = self.tokenizer.encode_batch(table["inputs"].to_pylist())
        targets = self.tokenizer.encode_batch(table["targets"].to_pylist())
        leaf_ids = table["leaf_id"].to_numpy()
        n_in = np.fromiter((len(t) for t in inputs), np.int64, len(inputs))
        n_out = np.fromiter((len(t) for t in targets), np.int64, len(targets))
        for leaf_id in np.unique(leaf_ids).tolist():
            mine = leaf_ids == leaf_id
            counts = self.tokens.setdefault(leaf_id, [0, 0])
            counts[0] += int(n_in[mine].sum())
            counts[1] += int(n_out[mine].sum())
        if self.opts.pack:
            self._pack(list(zip(inputs, targets, strict=True)))

    def _pack(self, examples: list[tuple[list[int], list[int]]]) -> None:
        """Hand a piece to the packer, which runs over the whole shard in a thread of its
        own: one packer per shard, so its window carries over from piece to piece."""
        if self._packer is None:
            self._packer = threading.Thread(target=self._run_packer, daemon=True)
            self._packer.start()
        self._pieces.put(examples)

    def _run_packer(self) -> None:
        def examples() -> Iterator[tuple[list[int], list[int]]]:
            while (piece := self._pieces.get()) is not None:
                yield from piece
            self._ended = True

        try:
            tok, opts, length = self.tokenizer, self.opts, self.opts.pack
            assert tok is not None and length is not None
            eos = tok.eos_id if opts.eos else None
            if opts.pack_targets:
                rows = pack_encoder_decoder(
                    examples(), length, opts.pack_targets, eos_id=eos, pad_id=tok.pad_id,
                    overlong=opts.overlong, window=opts.pack_window, stats=self.pack_stats,
                )  # fmt: skip
            else:
                rows = pack_decoder(
                    examples(), length, eos_id=eos, pad_id=tok.pad_id, overlong=opts.overlong,
                    window=opts.pack_window, loss_on_prompt=opts.loss_on_prompt,
                    stats=self.pack_stats,
                )  # fmt: skip
            schema = packed_schema(opts)
            while batch := list(itertools.islice(rows, PACKED_BATCH)):
                columns = {name: [r[name] for r in batch] for name in schema.names}
                self.sinks[PACKED].add(pa.table(columns, schema=schema))
        except BaseException as e:  # re-raised by close(), in the shard writer's thread
            self._failure = e
            while not self._ended and self._pieces.get() is not None:  # let add() finish
                pass

    def _stop_packer(self) -> None:
        if self._packer is not None:
            self._pieces.put(None)
            self._packer.join()
            self._packer = None

    def abort(self) -> None:
        """After a failure elsewhere in the shard: stop the packer and close the files (the
        staging folder they are in is abandoned with the build)."""
        try:
            self._stop_packer()
        finally:
            self.stack.close()

    def close(self) -> dict[str, Any]:
        with self.stack:  # the files are closed whatever happens
            self._stop_packer()
            if self._failure is not None:
                raise self._failure
            files = {layout: sink.close() for layout, sink in self.sinks.items()}
        tokens = {
            "/".join(self.leaves[i]): {"inputs": n[0], "targets": n[1]}
            for i, n in sorted(self.tokens.items())
        }
        return {"files": files, "pack": self.pack_stats, "tokens": tokens}
