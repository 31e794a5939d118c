"""Two baselines that build the same mixture as flanmix, for benchmarks/speed.py.

Usage: python benchmarks/baselines.py handwritten --mixture M --out DIR [--procs 2]
       python benchmarks/baselines.py datasets --mixture M --out DIR [--num-proc 2]

Both read the mixture's sources, render every example through the same Jinja templates
(`zs_opt` with a fixed "OPTIONS:" list; `fs_opt` as a template mix of 3 exemplars from the
task's own 64-example pool, fitted to the whitespace-token budget), keep each leaf's quota as
planned by `flanmix.plan.plan.make_plan` (seqio's rates), and write zstd Parquet with
flanmix's columns. What they leave out of flanmix's contract: per-row drop accounting and
replacing dropped rows by the next ones in hash order, the dataset card, manifest and checksums, and
byte-identical output for any worker count.

- `handwritten`: pyarrow + jinja2 + multiprocessing (one task per job, largest first): read
  a task's file, render each row, keep the quota with the smallest blake2b keys of
  (seed, task, id, template type) in a bounded heap, write one Parquet file per task (rows
  in key order; tasks are not interleaved across files).
- `datasets`: what a Hugging Face `datasets` user writes: `load_dataset("parquet"|"json")`
  per task, `.map(batched=True)` to render, `.shuffle(seed).select(range(quota))`,
  `concatenate_datasets(...).shuffle(seed)`, then its Arrow batches to a zstd
  `pq.ParquetWriter` (datasets 5.2's `to_parquet` refuses `compression=`: it sets snappy per
  column itself).
"""

from __future__ import annotations

import argparse
import hashlib
import heapq
import json
import multiprocessing
import os
import random
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2
import pyarrow as pa
import pyarrow.parquet as pq

from flanmix.publish.parquet import SCHEMA as flanmix_schema

SCHEMA = flanmix_schema  # the same output columns as flanmix writes
POOL_SIZE = 64
SEPARATORS = ("\n", "\n\n", "\n\n\n")


def key64(*parts: object) -> int:
    data = "\x1f".join(str(p) for p in parts).encode()
    return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "big")


@dataclass(frozen=True)
class Template:
    id: str
    input: str
    target: str
    choices: tuple[str, ...]


@dataclass
class Job:
    """One leaf (every task of the benchmark mixture has exactly one)."""

    task: str
    path: str
    kind: str  # parquet | jsonl
    id_field: str
    collection: str
    task_source: str
    template_type: str  # zs_opt | fs_opt
    templates: tuple[Template, ...]
    quota: int
    rows: int
    seed: int
    shots: int
    budget: int
    _compiled: list[tuple[jinja2.Template, jinja2.Template]] | None = field(
        default=None, repr=False
    )

    def __getstate__(self) -> dict[str, Any]:  # compiled templates stay in their process
        return {**self.__dict__, "_compiled": None}

    @property
    def fewshot(self) -> bool:
        return self.template_type.startswith("fs_")


ENV = jinja2.Environment(
    undefined=jinja2.StrictUndefined, autoescape=False, keep_trailing_newline=True
)


class Renderer:
    """Renders one task's records: the same work in both baselines."""

    def __init__(self, job: Job) -> None:
        self.job = job
        self.compiled = [
            (ENV.from_string(t.input), ENV.from_string(t.target)) for t in job.templates
        ]
        self.options = [
            "OPTIONS:\n- " + "\n- ".join(t.choices) if t.choices else "" for t in job.templates
        ]
        self.sep = random.Random(key64(job.seed, job.task, "sep")).choice(SEPARATORS)
        self.pool: list[tuple[str, str, str, int]] = []  # (id, inputs, targets, tokens)

    def one(self, record: dict[str, Any], position: int) -> tuple[int, str, str]:
        k = position % len(self.compiled)  # Flan's round robin over the templates
        tin, tout = self.compiled[k]
        inputs = tin.render(record, options_=self.options[k]).strip()
        return k, inputs, tout.render(record).strip()

    def set_pool(self, records: list[tuple[int, dict[str, Any]]]) -> None:
        for position, record in records:
            _, inputs, targets = self.one(record, position)
            tokens = len(inputs.split()) + len(targets.split())
            self.pool.append((str(record[self.job.id_field]), inputs, targets, tokens))

    def row(self, record: dict[str, Any], position: int) -> dict[str, Any]:
        job = self.job
        example_id = str(record[job.id_field])
        k, inputs, targets = self.one(record, position)
        exemplar_ids: list[str] = []
        if job.fewshot:
            rng = random.Random(key64(job.seed, job.task, example_id, "exemplars"))
            picks = rng.sample(range(len(self.pool)), min(len(self.pool), job.shots + 1))
            used = len(inputs.split())
            shots = []
            for i in picks:
                ex_id, ex_in, ex_out, tokens = self.pool[i]
                if ex_id == example_id:
                    continue
                if len(shots) == job.shots or used + tokens > job.budget:
                    break
                used += tokens
                shots.append(ex_in + "\n\n" + ex_out + self.sep)
                exemplar_ids.append(ex_id)
            inputs = ("".join(shots) + inputs).rstrip()
        return {
            "inputs": inputs,
            "targets": targets,
            "task_source": job.task_source,
            "task_name": job.task,
            "template_type": job.template_type,
            "collection": job.collection,
            "template_id": job.templates[k].id,
            "template_idx": k,
            "example_id": example_id,
            "exemplar_ids": exemplar_ids,
            "options": list(job.templates[k].choices),
            "seed": job.seed,
        }


def read_table(job: Job) -> pa.Table:
    if job.kind == "parquet":
        return pq.read_table(job.path)
    import pyarrow.json as pj

    return pj.read_json(job.path)


def pool_positions(job: Job, ids: list[Any]) -> list[int]:
    keyed = ((key64(job.seed, job.task, i, "pool"), p) for p, i in enumerate(ids))
    return [p for _, p in heapq.nsmallest(POOL_SIZE, keyed)]


def plan_jobs(mixture_path: str) -> list[Job]:
    """The mixture's leaves with their quotas (flanmix's loader and planner, seqio's rates)."""
    from flanmix.plan.plan import make_plan, task_leaf_counts
    from flanmix.spec.load import load_mixture

    mixture = load_mixture(mixture_path)
    rows: dict[str, int] = {}
    for name, task in mixture.tasks.items():
        path = task.source_pattern()
        if task.source.kind == "parquet":
            rows[name] = pq.ParquetFile(path).metadata.num_rows
        else:
            with open(path, "rb") as f:
                rows[name] = sum(1 for _ in f)
    plan = make_plan(mixture, task_leaf_counts(mixture, rows))
    jobs = []
    for lp in plan.leaves:
        task = mixture.tasks[lp.task]
        family = mixture.families[task.family].spec
        templates = tuple(
            Template(t.id, t.input, t.target, tuple(t.answer_choices or ()))
            for t in family.templates
            if lp.template_type in t.types
        )
        jobs.append(
            Job(
                task=lp.task,
                path=task.source_pattern(),
                kind=task.source.kind,
                id_field=task.source.id_field or "id",
                collection=task.collection,
                task_source=task.task_source,
                template_type=lp.template_type,
                templates=templates,
                quota=lp.quota,
                rows=rows[lp.task],
                seed=mixture.seed,
                shots=task.fewshot.shots,
                budget=task.fewshot.budget,
            )
        )
    return jobs


# --- (a) hand-written: pyarrow + jinja2 + multiprocessing -------------------------------


def run_job(args: tuple[Job, str]) -> tuple[str, int]:
    job, out = args
    table = read_table(job)
    renderer = Renderer(job)
    ids = table.column(job.id_field).to_pylist()
    if job.fewshot:
        positions = pool_positions(job, ids)
        # Row by row: `take` concatenates the chunks, and a big task's text exceeds 2 GB.
        pool_rows = [table.slice(p, 1).to_pylist()[0] for p in positions]
        renderer.set_pool(list(zip(positions, pool_rows, strict=True)))
    heap: list[tuple[int, int, dict[str, Any]]] = []  # max-heap of the quota smallest keys
    position = 0
    for batch in table.to_batches(max_chunksize=8192):
        for record in batch.to_pylist():
            row = renderer.row(record, position)
            key = key64(job.seed, job.task, ids[position], job.template_type, "select")
            item = (-key, -position, row)
            if len(heap) < job.quota:
                heapq.heappush(heap, item)
            elif job.quota and item > heap[0]:
                heapq.heapreplace(heap, item)
            position += 1
    rows = [row for _, _, row in sorted(heap, reverse=True)]
    path = Path(out, "data", f"{job.task}.parquet")
    # In chunks: one Arrow string column holds at most 2 GB (a 10M-row task's quota does not).
    with pq.ParquetWriter(path, SCHEMA, compression="zstd") as writer:
        for start in range(0, len(rows), 50_000):
            writer.write_table(pa.Table.from_pylist(rows[start : start + 50_000], schema=SCHEMA))
    return job.task, len(rows)


def handwritten(mixture: str, out: str, procs: int) -> int:
    jobs = sorted(plan_jobs(mixture), key=lambda j: -j.rows)  # largest first: balanced workers
    Path(out, "data").mkdir(parents=True, exist_ok=True)
    work = [(job, out) for job in jobs]
    if procs == 1:
        results = [run_job(w) for w in work]
    else:
        pool = multiprocessing.get_context("fork").Pool(procs, maxtasksperchild=None)
        results = list(pool.imap_unordered(run_job, work, chunksize=1))
        pool.close()
        pool.join()
    return sum(n for _, n in results)


# --- (b) Hugging Face datasets ------------------------------------------------------------


def render_batch(
    batch: dict[str, list[Any]], indices: list[int], job: Job, pool: list[dict[str, Any]]
) -> dict[str, list[Any]]:
    """A batched `.map` function: the task's renderer is built once per process."""
    renderer = _RENDERERS.get(job.task)
    if renderer is None:
        renderer = _RENDERERS[job.task] = Renderer(job)
        if job.fewshot:
            renderer.set_pool([(r["__position"], r) for r in pool])
    names = list(batch)
    out: dict[str, list[Any]] = {name: [] for name in SCHEMA.names}
    for j, position in enumerate(indices):
        record = {name: batch[name][j] for name in names}
        for name, value in renderer.row(record, position).items():
            out[name].append(value)
    return out


_RENDERERS: dict[str, Renderer] = {}


def hf_datasets(mixture: str, out: str, num_proc: int, cache: str) -> int:
    import datasets
    from datasets import concatenate_datasets, load_dataset

    datasets.disable_progress_bars()
    datasets.logging.set_verbosity_error()
    parts = []
    for job in plan_jobs(mixture):
        builder = "parquet" if job.kind == "parquet" else "json"
        ds = load_dataset(builder, data_files=job.path, split="train", cache_dir=cache)
        pool: list[dict[str, Any]] = []
        if job.fewshot:
            positions = pool_positions(job, ds[job.id_field])
            pool = [{**ds[p], "__position": p} for p in positions]
        rendered = ds.map(
            render_batch,
            batched=True,
            with_indices=True,
            fn_kwargs={"job": job, "pool": pool},
            remove_columns=ds.column_names,
            features=datasets.Features.from_arrow_schema(SCHEMA),
            num_proc=num_proc if len(ds) >= 20_000 and num_proc > 1 else None,
        )
        parts.append(rendered.shuffle(seed=job.seed).select(range(job.quota)))
    mixed = concatenate_datasets(parts).shuffle(seed=0)
    Path(out, "data").mkdir(parents=True, exist_ok=True)
    # `to_parquet(compression="zstd")` is refused in datasets 5.2 (it sets a per-column
    # snappy compression itself), so the mixed rows are streamed to a zstd writer instead.
    with pq.ParquetWriter(Path(out, "data", "train.parquet"), SCHEMA, compression="zstd") as w:
        for batch in mixed.with_format("arrow").iter(batch_size=10_000):
            w.write_table(batch)
    return len(mixed)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("which", choices=["handwritten", "datasets"])
    parser.add_argument("--mixture", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--procs", type=int, default=2, help="handwritten: worker processes")
    parser.add_argument("--num-proc", type=int, default=2, help="datasets: map's num_proc")
    parser.add_argument("--cache", help="datasets: cache folder (default: OUT/_hf_cache)")
    args = parser.parse_args()
    start = time.perf_counter()
    if args.which == "handwritten":
        rows = handwritten(args.mixture, args.out, args.procs)
    else:
        rows = hf_datasets(args.mixture, args.out, args.num_proc, args.cache or f"{args.out}_hf")
    seconds = time.perf_counter() - start
    json.dump({"rows": rows, "seconds": round(seconds, 3)}, sys.stdout)
    print()


if __name__ == "__main__":
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    main()
