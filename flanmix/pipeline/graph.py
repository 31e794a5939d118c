"""The build graph: read → render each leaf's window into spill files → select quotas from
the rendered keys → write each shard's hash range from the spill as Parquet."""

from __future__ import annotations

import pickle
import shutil
from pathlib import Path
from typing import Any

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions

from flanmix.hygiene.checks import Checks
from flanmix.pipeline.transforms import (
    Layout,
    RenderWindows,
    SmallestPerKey,
    SpreadInOrder,
    choose_deduplicated,
    choose_parked,
    dedup_parts,
    find_duplicates,
    pool_candidates,
    pool_examples,
    resolve_choices,
    shard_count,
    write_shard,
)
from flanmix.plan.selection import Window
from flanmix.publish.layouts import LayoutOptions
from flanmix.publish.parquet import store_bytes
from flanmix.render.fewshot import needs_pool
from flanmix.sources.files import ReadShard, is_url, open_path
from flanmix.spec.load import Leaf, Mixture

PARTS_FILE = "_parts.pkl"
SPILL_DIR = "_spill"


def build_graph(
    p: beam.Pipeline,
    *,
    shards: list[ReadShard],
    mixture: Mixture,
    types: dict[str, list[str]],
    repeats: bool,
    seed: int,
    staging: str,
    max_shard_bytes: int,
    quotas: dict[Leaf, int],
    windows: dict[Leaf, Window],
    buckets: int,
    checks: Checks | None = None,
    dedup_buckets: int = 1,
    layouts: LayoutOptions | None = None,
) -> None:
    """Wire the pipeline. Its only outputs are the shard files and one small parts file.

    Rendered rows never pass through a shuffle: they go to spill files, and only their keys,
    the counts and the per-leaf selections travel between steps (see publish/spill.py)."""
    listed = (
        p
        | "ListSourceShards" >> beam.Create(list(enumerate(shards)), reshuffle=False)
        | "SpreadShards" >> SpreadInOrder()
    )
    # Few-shot tasks draw exemplars from a bounded pool per task (smallest hashes), built by a
    # first read of their shards and handed to rendering as a side input.
    pooled = {t for t, leaf_types in types.items() if needs_pool(leaf_types)}
    pools = (
        listed
        | "PoolShards" >> beam.Filter(lambda s: s.task in pooled)
        | "PoolCandidates" >> beam.FlatMap(pool_candidates, mixture.tasks, seed)
        | "Pools"
        >> beam.CombinePerKey(
            SmallestPerKey({t: mixture.tasks[t].fewshot.pool_size for t in pooled})
        )
        | "PoolExamples" >> beam.Map(pool_examples)
    )
    leaves = sorted((t, lt) for t, leaf_types in types.items() for lt in leaf_types)
    checks = checks or Checks()
    turns = bool(layouts and layouts.fewshot_as_turns)
    layout = Layout(windows, leaves, f"{staging}/{SPILL_DIR}", buckets, checks, turns)
    rendered = listed | "RenderWindows" >> beam.ParDo(
        RenderWindows(mixture.tasks, mixture.families, types, seed, layout),
        pools=beam.pvalue.AsDict(pools),
    ).with_outputs("counts", "spill", "matches", main="candidates")
    counts = rendered.counts | "SumCounts" >> beam.CombinePerKey(sum)
    spill = rendered.spill
    if checks.dedup == "none":
        choices = (
            rendered.candidates
            | "GroupCandidates" >> beam.GroupByKey()
            | "Choose" >> beam.Map(choose_parked, quotas, windows, repeats)
        )
    else:
        # Duplicates are found per dedup key, a bucket of keys per element, before any
        # leaf chooses its quota: a leaf with enough unique rows still fills it.
        duplicates = (
            rendered.candidates
            | "DedupParts" >> beam.FlatMap(dedup_parts, layout.leaf_ids, dedup_buckets)
            | "GroupDedupKeys" >> beam.GroupByKey()
            | "FindDuplicates"
            >> beam.FlatMap(find_duplicates, leaves).with_outputs(
                "contested", "contested_counts", main="within"
            )
        )
        # Rows whose text another leaf also holds are settled once the leaves have chosen:
        # only a copy that its own leaf selects can make another copy a duplicate.
        choices = (
            {
                "candidates": rendered.candidates,
                "duplicates": duplicates.within,
                "contested": duplicates.contested_counts,
            }
            | "GroupCandidates" >> beam.CoGroupByKey()
            | "Choose" >> beam.Map(choose_deduplicated, quotas, windows, repeats)
            | "CollectLeafChoices" >> beam.combiners.ToList()
            | "ResolveDuplicates"
            >> beam.FlatMap(
                resolve_choices,
                beam.pvalue.AsList(duplicates.contested),
                windows,
                leaves,
                repeats,
            )
        )
    num_shards = (
        choices
        | "CollectChoices" >> beam.combiners.ToList()
        | "NumShards" >> beam.Map(shard_count, max_shard_bytes)
    )
    written = (
        num_shards
        | "ShardIndices" >> beam.FlatMap(lambda n: list(range(n)))
        | "SpreadIndices" >> beam.Reshuffle()
        | "WriteShards"
        >> beam.Map(
            write_shard,
            staging,
            beam.pvalue.AsSingleton(num_shards),
            beam.pvalue.AsList(spill),
            beam.pvalue.AsDict(choices),
            leaves,
            layouts,
        )
    )
    parts = (
        (
            counts | "TagCounts" >> beam.Map(lambda kv: ("count", kv)),
            choices | "TagChoices" >> beam.Map(lambda kv: ("choice", kv)),
            written | "TagShards" >> beam.Map(lambda s: ("shard", s)),
            num_shards | "TagNumShards" >> beam.Map(lambda n: ("num_shards", n)),
            rendered.matches | "TagMatches" >> beam.Map(lambda m: ("match", m)),
        )
        | "FlattenParts" >> beam.Flatten()
        | "CollectParts" >> beam.combiners.ToList()
        | "WriteParts" >> beam.Map(_write_parts, staging)
    )
    del parts


def _write_parts(items: list[Any], staging: str) -> None:
    store_bytes(f"{staging}/{PARTS_FILE}", pickle.dumps(sorted(items, key=repr)))


def run_graph(runner: Any, options: PipelineOptions, **kwargs: Any) -> list[Any]:
    """Run the pipeline to completion and return the collected parts."""
    with beam.Pipeline(runner=runner, options=options) as p:
        build_graph(p, **kwargs)
    path = f"{kwargs['staging']}/{PARTS_FILE}"
    with open_path(path, "rb") as f:
        parts = pickle.loads(f.read())
    remove(path)
    remove(f"{kwargs['staging']}/{SPILL_DIR}")
    return parts


def remove(path: str) -> None:
    """Delete a file or a folder tree, local or at an fsspec URL; a missing one is fine."""
    if is_url(path):
        import fsspec

        fs, inner = fsspec.core.url_to_fs(path)
        if fs.exists(inner):
            fs.rm(inner, recursive=True)
    elif Path(path).is_dir():
        shutil.rmtree(path)
    else:
        Path(path).unlink(missing_ok=True)
