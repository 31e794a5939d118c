"""The build graph: read → render → select quotas → assign shards → write Parquet."""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions

from flanmix.pipeline.transforms import (
    ReadAndRender,
    SmallestPerKey,
    expand_copies,
    final_quotas,
    make_selection,
    num_shards_for,
    pool_candidates,
    pool_examples,
    shard_key,
    size_of,
    write_sorted_shard,
)
from flanmix.publish.parquet import store_bytes
from flanmix.render.fewshot import needs_pool
from flanmix.sources.files import ReadShard, is_url, open_path
from flanmix.spec.load import Mixture

PARTS_FILE = "_parts.pkl"


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
) -> None:
    """Wire the pipeline. Its only outputs are the shard files and one small parts file."""
    listed = p | "ListSourceShards" >> beam.Create(shards) | "SpreadShards" >> beam.Reshuffle()
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
    rendered = listed | "ReadAndRender" >> beam.ParDo(
        ReadAndRender(mixture.tasks, mixture.families, types, seed),
        pools=beam.pvalue.AsDict(pools),
    ).with_outputs("counts", main="rows")
    rows = rendered.rows
    counts = rendered.counts | "SumCounts" >> beam.CombinePerKey(sum)
    # Quotas are planned again from the rows that rendered (see plan.make_plan).
    final_pc = (
        counts
        | "CollectCounts" >> beam.combiners.ToList()
        | "FinalQuotas" >> beam.Map(final_quotas, mixture, repeats)
    )
    final = beam.pvalue.AsSingleton(final_pc)
    limits = beam.pvalue.AsSingleton(final_pc | "Limits" >> beam.Map(lambda f: f["limits"]))
    selections = (
        rows
        | "LeafKeys" >> beam.Map(lambda kv: (kv[0], (kv[0], (kv[1][0], None))))
        | "SmallestKeys" >> beam.CombinePerKey(SmallestPerKey(), limits)
        | "Select" >> beam.Map(make_selection, final, repeats)
    )
    selected = rows | "ExpandCopies" >> beam.FlatMap(
        expand_copies, selections=beam.pvalue.AsDict(selections)
    )
    num_shards = (
        selected
        | "RowBytes" >> beam.Map(size_of)
        | "TotalBytes" >> beam.CombineGlobally(sum)
        | "NumShards" >> beam.Map(num_shards_for, max_shard_bytes)
    )
    written = (
        selected
        | "AssignShard" >> beam.Map(shard_key, seed, beam.pvalue.AsSingleton(num_shards))
        | "GroupShards" >> beam.GroupByKey()
        | "WriteShards"
        >> beam.Map(write_sorted_shard, staging, beam.pvalue.AsSingleton(num_shards))
    )
    parts = (
        (
            counts | "TagCounts" >> beam.Map(lambda kv: ("count", kv)),
            final_pc | "TagFinal" >> beam.Map(lambda f: ("final", f)),
            selections | "TagSelections" >> beam.Map(lambda kv: ("selection", kv)),
            written | "TagShards" >> beam.Map(lambda s: ("shard", s)),
            num_shards | "TagNumShards" >> beam.Map(lambda n: ("num_shards", n)),
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
    return parts


def remove(path: str) -> None:
    if is_url(path):
        import fsspec

        fs, inner = fsspec.core.url_to_fs(path)
        fs.rm(inner)
    else:
        Path(path).unlink()
