"""`flanmix build`, as a library call: count → plan → Beam pipeline → manifest, stats, card.

Everything is written into a staging folder that replaces `out` only once complete.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flanmix.checks import check_mixture, task_template_types
from flanmix.errors import FlanmixError
from flanmix.hygiene.checks import (
    INDEX_DIR,
    Checks,
    contamination_counts,
    prepare_checks,
    written_evidence,
)
from flanmix.plan.plan import Plan, make_plan, task_leaf_counts
from flanmix.plan.selection import Window, first_window, widen, window_rows
from flanmix.publish import staging as staging_mod
from flanmix.publish.card import dataset_card
from flanmix.publish.layouts import LayoutOptions, layout_records
from flanmix.publish.manifest import build_manifest, build_stats, spec_hash, write_json
from flanmix.publish.parquet import store_bytes
from flanmix.publish.spill import bucket_count
from flanmix.publish.summary import ShardCounts, summarize, summary_markdown
from flanmix.render.fewshot import disjoint_pool_tasks
from flanmix.selfimprove.collect import collected_stats
from flanmix.sources.files import TaskCount, count_task, is_url, read_shards
from flanmix.sources.snapshot import (
    cache_location,
    prepare_sources,
    snapshot_tasks,
    with_snapshots,
)
from flanmix.spec.load import Mixture, parse_leaf_type
from flanmix.spec.models import TotalEpoch

DEFAULT_SHARD_BYTES = 500_000_000  # the Hub's recommended Parquet shard size
EVIDENCE_FILE = "decontamination.jsonl"
DUPLICATE = "duplicate"


@dataclass(frozen=True)
class BuildResult:
    out: Path | str
    plan: Plan
    manifest: dict[str, Any]
    stats: dict[str, Any]


def count_sources(
    mixture: Mixture, limit: int | None, progress: Callable[[str], None] = lambda _: None
) -> dict[str, TaskCount]:
    counts = {}
    for i, name in enumerate(sorted(mixture.tasks), 1):
        progress(f"counting sources [{i}/{len(mixture.tasks)}] {name}")
        counts[name] = count_task(mixture.tasks[name], limit)
    return counts


def build(
    mixture: Mixture,
    out: Path | str,
    *,
    runner: str = "direct",
    workers: int = 1,
    seed: int | None = None,
    limit_per_task: int | None = None,
    overwrite: bool = False,
    options: dict[str, str] | None = None,
    max_shard_bytes: int = DEFAULT_SHARD_BYTES,
    read_shard_rows: int = 10_000,
    command: str = "",
    progress: Callable[[str], None] = lambda _: None,
    cache: Path | str | None = None,
    skip_failed_sources: bool = False,
    layouts: LayoutOptions | None = None,
) -> BuildResult:
    from flanmix.pipeline.graph import remove, run_graph
    from flanmix.pipeline.options import pipeline_setup

    layouts = layouts or LayoutOptions()
    tokenizer = _tokenizer(layouts)  # a tokenizer that does not load fails before anything
    layouts = dataclasses.replace(layouts, loaded=tokenizer)

    if seed is not None:
        mixture = dataclasses.replace(mixture, seed=seed)
    check_mixture(mixture)
    setup = pipeline_setup(runner, workers, options)
    if not setup.local:
        _check_reachable(mixture, str(out), cache, str(setup.runner))
        if layouts.tokenizer and not is_url(layouts.tokenizer):
            raise FlanmixError(
                f"runner {setup.runner} runs on remote workers, which cannot read the tokenizer "
                f"{layouts.tokenizer} on this machine: copy it to a bucket and give its gs:// URL"
            )
    remote = is_url(str(out))  # any fsspec URL, e.g. gs://bucket/flan2022
    finishing = False
    out = str(out) if remote else Path(out).resolve()
    staging: Any = (
        staging_mod.prepare_url(str(out), overwrite)
        if remote
        else staging_mod.prepare(Path(out), overwrite)
    )
    try:
        mixture, skipped = prepare_sources(
            mixture, cache, skip_failed=skip_failed_sources, progress=progress
        )
        if any(t.snapshot for t in mixture.tasks.values()):
            check_mixture(mixture)  # the snapshots' fields, now that they are known
        counts = count_sources(mixture, limit_per_task, progress)
        if tokenizer is not None and layouts.pack:
            _check_pack_length(mixture, counts, tokenizer, layouts)
        plan, windows = _plan_and_windows(mixture, counts)
        checks, hygiene = prepare_checks(mixture.hygiene, str(staging), cache, progress)
        args = _graph_args(
            mixture,
            counts,
            plan,
            windows,
            read_shard_rows,
            str(staging),
            max_shard_bytes,
            workers,
        )
        for attempt in itertools.count(1):
            progress(
                f"running the Beam pipeline ({runner}, {workers} worker(s)): "
                f"{plan.total:,} rows" + (f", attempt {attempt}" if attempt > 1 else "")
            )
            parts = run_graph(
                setup.runner,
                setup.options,
                **args,
                **_selection_args(plan, windows, checks),
                layouts=layouts,
            )
            choices = dict(value for kind, value in parts if kind == "choice")
            short = {leaf: c.valid for leaf, c in choices.items() if c.selection is None}
            if not short:
                break
            # Drops (or chance) left these windows without their quota: nothing was written,
            # and the same rows are chosen from a wider window (see plan/selection.py).
            progress(f"{len(short)} leaf window(s) too small (rows were dropped); widening")
            quotas = _quotas(plan)
            for leaf, valid in short.items():
                windows[leaf] = widen(windows[leaf], quotas[leaf][0], valid)
        remove(f"{staging}/{INDEX_DIR}")
        progress("writing manifest, stats and dataset card")
        result = _finalize(
            mixture,
            counts,
            plan,
            parts,
            staging,
            out,
            command,
            limit_per_task,
            skipped,
            hygiene,
            layouts,
            tokenizer,
        )

        short_leaves = [
            f"{leaf['leaf']} ({leaf['written']:,} of {leaf['quota']:,})"
            for leaf in result.stats["leaves"]
            if leaf["written"] < leaf["quota"]
        ]
        if short_leaves:
            progress(
                f"warning: {len(short_leaves)} leaf(s) wrote fewer rows than planned, because "
                f"rows were dropped (see stats.json): {', '.join(short_leaves[:5])}"
                + (" …" if len(short_leaves) > 5 else "")
            )
        if remote:
            finishing = True  # from here a failure keeps the staging copy to finish by hand
            staging_mod.finish_url(staging, str(out))
        else:
            staging_mod.finish(staging, Path(out))
        return dataclasses.replace(result, out=out)
    except BaseException:
        if remote and not finishing:
            staging_mod.abandon_url(staging)
        elif not remote:
            staging_mod.abandon(staging)
        raise


FEWSHOT_COST = 2.5  # a few-shot row renders in about 2.5 times a zero-shot row's time


def deal(costs: list[float], workers: int) -> list[int]:
    """An order of the items that a round-robin deal to `workers` splits evenly: largest
    first, each round dealt in the opposite direction of the one before (a snake draft)."""
    order = sorted(range(len(costs)), key=lambda i: (-costs[i], i))
    n = max(1, workers)
    rounds = [order[i : i + n] for i in range(0, len(order), n)]
    return [i for r, items in enumerate(rounds) for i in (items if r % 2 == 0 else items[::-1])]


def _graph_args(
    mixture: Mixture,
    counts: dict[str, TaskCount],
    plan: Plan,
    windows: dict[tuple[str, str], Window],
    read_shard_rows: int,
    staging: str,
    max_shard_bytes: int,
    workers: int = 1,
) -> dict[str, Any]:
    """What the Beam graph is built from: read shards, the mixture, where shards go.

    Read shards are sized by the rows they will render, not the rows they hold: a big task
    whose windows keep a tenth of its rows gets shards ten times longer, so that shards cost
    about the same and workers finish together."""
    rendered: dict[str, float] = {}  # per task: rows rendered per row read, weighted by cost
    for leaf, (_, available) in _quotas(plan).items():
        weight = FEWSHOT_COST if parse_leaf_type(leaf[1])[1] else 1.0
        share = window_rows(windows[leaf], available) / max(1, available)
        rendered[leaf[0]] = rendered.get(leaf[0], 0.0) + weight * share
    shards, costs = [], []
    for name in sorted(counts):
        share = rendered.get(name, 0.0)
        rows = read_shard_rows if share <= 0 else int(read_shard_rows / share)
        rows = min(max(rows, read_shard_rows // 8, 1), read_shard_rows * 8)
        for shard in read_shards(counts[name], rows):
            shards.append(shard)
            costs.append((shard.stop - shard.start) * share)
    return {
        "shards": [shards[i] for i in deal(costs, workers)],
        "mixture": mixture,
        "types": task_template_types(mixture),
        "repeats": isinstance(mixture.epoch, TotalEpoch) and mixture.epoch.repeats,
        "seed": mixture.seed,
        "staging": staging,
        "max_shard_bytes": max_shard_bytes,
    }


def _quotas(plan: Plan) -> dict[tuple[str, str], tuple[int, int]]:
    """Per leaf: (quota, available)."""
    return {(lp.task, lp.template_type): (lp.quota, lp.available) for lp in plan.leaves}


def _plan_and_windows(
    mixture: Mixture, counts: dict[str, TaskCount]
) -> tuple[Plan, dict[tuple[str, str], Window]]:
    """The plan from source rows, and each leaf's first render window, with room for the rows
    its task may hold out as exemplars."""
    plan = make_plan(mixture, task_leaf_counts(mixture, {n: c.rows for n, c in counts.items()}))
    held = {
        name: sum(o.fewshot.pool_size for o in disjoint_pool_tasks(task, mixture.tasks))
        for name, task in mixture.tasks.items()
    }
    windows = {leaf: first_window(q, n, held[leaf[0]]) for leaf, (q, n) in _quotas(plan).items()}
    return plan, windows


DEDUP_BUCKET_ROWS = 1 << 20  # candidates per dedup bucket: ~32 MB of keys in one worker


def _selection_args(
    plan: Plan, windows: dict[tuple[str, str], Window], checks: Checks
) -> dict[str, Any]:
    """The plan's part of the graph: quotas, render windows, spill buckets (sized from the
    rows the windows will spill) and the hygiene checks."""
    quotas = _quotas(plan)
    spilled = sum(window_rows(windows[leaf], n) for leaf, (_, n) in quotas.items())
    return {
        "quotas": {leaf: q for leaf, (q, _) in quotas.items()},
        "windows": windows,
        "buckets": bucket_count(spilled),
        "checks": checks,
        "dedup_buckets": max(1, -(-spilled // DEDUP_BUCKET_ROWS)),
    }


def _tokenizer(layouts: LayoutOptions) -> Any:
    if not layouts.tokenizer:
        return None
    from flanmix.publish.packing import load_tokenizer

    return load_tokenizer(layouts.tokenizer, need_eos=layouts.eos and bool(layouts.pack))


SAMPLE_ROWS = 20  # rows per task rendered to find the shortest example before packing


def _check_pack_length(
    mixture: Mixture, counts: dict[str, TaskCount], tokenizer: Any, layouts: LayoutOptions
) -> None:
    """Refuse a pack length that no example of a sample fits (the first rows of each task,
    zero-shot): with `--overlong drop` the build would drop everything."""
    from flanmix.render.render import leaf_context, render_example
    from flanmix.render.templates import compile_family
    from flanmix.sources.files import read_shard

    if layouts.overlong != "drop" or not layouts.pack:
        return
    eos = 1 if layouts.eos else 0
    sampled, shortest = 0, None
    types = task_template_types(mixture)
    for name in sorted(counts):
        task = mixture.tasks[name]
        zero_shot = [lt for lt in types.get(name, []) if parse_leaf_type(lt)[1] is None]
        if not zero_shot:
            continue
        family = compile_family(mixture.families[task.family])
        first = read_shards(counts[name], SAMPLE_ROWS)[0]  # may hold whole row groups
        for example in itertools.islice(read_shard(task, first), SAMPLE_ROWS):
            for lt in zero_shot:
                row, _ = render_example(family, leaf_context(task, lt, mixture.seed), example)
                if row is None:
                    continue
                n_in = len(tokenizer.encode(row["inputs"]))
                n_out = len(tokenizer.encode(row["targets"])) + eos
                fits = (
                    n_in + eos <= layouts.pack and n_out <= layouts.pack_targets
                    if layouts.pack_targets
                    else n_in + n_out <= layouts.pack
                )
                if fits:
                    return
                sampled += 1
                size = n_in + n_out
                shortest = min(shortest or size, size)
    if sampled:
        raise FlanmixError(
            f"--pack {layouts.pack}: none of {sampled} sampled examples fits (the shortest "
            f"has {shortest} tokens), so every row would be dropped as overlong; raise "
            "--pack (or --pack-target-length), or pass --overlong truncate"
        )


def _hashed(hygiene: dict[str, Any]) -> dict[str, Any]:
    """The hygiene record without what does not change the output (sizes, notes)."""
    out = dict(hygiene)
    if "decontamination" in out:
        d = dict(out["decontamination"])
        d.pop("index_bytes", None)
        # The index's digest stands for the eval texts; paths differ between machines.
        d["eval_sets"] = [
            {k: v for k, v in s.items() if k not in ("note", "location")} for s in d["eval_sets"]
        ]
        out["decontamination"] = d
    return out


def jsonl_bytes(records: list[dict[str, Any]]) -> bytes:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records).encode()


def _check_reachable(mixture: Mixture, out: str, cache: Path | str | None, runner: str) -> None:
    """Remote workers see no local disk: output, snapshots and files read in place must be
    at URLs (gs://…). Said before anything runs."""
    where = f"runner {runner} runs on remote workers, which cannot reach this machine's disk"
    if not is_url(out):
        raise FlanmixError(f"{where}: give --out a bucket URL, e.g. --out gs://bucket/name")
    local = sorted(
        t.name
        for t in mixture.tasks.values()
        if t.source.in_place and not is_url(t.source_pattern())
    )
    if local:
        raise FlanmixError(
            f"{where}: task(s) {', '.join(local[:5])} read local files; copy them to a bucket "
            "and point `root` or `path` there"
        )
    snapshotted = any(not t.source.in_place for t in mixture.tasks.values())
    if snapshotted and not is_url(str(cache_location(cache))):
        raise FlanmixError(f"{where}: give --cache a bucket URL for the snapshots")
    tokenizers = sorted(
        {
            str(t.fewshot.tokenizer)
            for t in mixture.tasks.values()
            if t.fewshot.tokenizer not in (None, "whitespace", "characters")
        }
    )
    if tokenizers:
        raise FlanmixError(
            f"{where}: few-shot tokenizer file(s) {', '.join(tokenizers)} are read by the "
            "workers, which this version cannot ship them to; use `tokenizer: whitespace` or "
            "`characters` for a remote run"
        )


@dataclass(frozen=True)
class DryRun:
    runner: str
    steps: list[str]  # the job's top-level steps
    transforms: int  # every transform, composites included
    staged: tuple[str, ...]  # packages staged to the workers
    warnings: list[str] = dataclasses.field(default_factory=list)  # what a real run would refuse


GCS_PATH = re.compile(r"gs://[a-z0-9][a-z0-9._-]{1,61}[a-z0-9]/.+")


def _check_gcs_locations(options: dict[str, Any]) -> None:
    """Beam looks for (and tries to create) a default bucket when these are not valid paths,
    which needs the network: refuse placeholders first."""
    for key in ("temp_location", "staging_location"):
        value = str(options.get(key) or "")
        if not GCS_PATH.fullmatch(value) or "YOUR-BUCKET" in value:
            raise FlanmixError(
                f"Dataflow's {key} is '{value}': set FLANMIX_GCS to a gs://bucket/path you can "
                f"write (or --option {key}=gs://…)"
            )


def dry_run(
    mixture: Mixture,
    *,
    runner: str,
    options: dict[str, str] | None = None,
    limit_per_task: int | None = None,
    max_shard_bytes: int = DEFAULT_SHARD_BYTES,
    read_shard_rows: int = 10_000,
    cache: Path | str | None = None,
    skip_failed_sources: bool = False,
    progress: Callable[[str], None] = lambda _: None,
    layouts: LayoutOptions | None = None,
) -> DryRun:
    """Build the complete job graph for a remote runner without submitting it. For Dataflow,
    Beam's own `dry_run` also creates the job request offline (no credentials needed)."""
    import apache_beam as beam

    from flanmix.pipeline.graph import build_graph
    from flanmix.pipeline.options import load_profile, pipeline_setup

    check_mixture(mixture)
    profile = load_profile(runner)
    dataflow = profile["runner"] == "DataflowRunner"
    setup = pipeline_setup(
        runner, 1, {**(options or {}), **({"dry_run": "True"} if dataflow else {})}
    )
    if setup.local:
        raise FlanmixError("--dry-run is for remote runners (dataflow, flink, spark)")
    if dataflow:
        _check_gcs_locations(setup.options.get_all_options())
    report = snapshot_tasks(list(mixture.tasks.values()), cache_location(cache), fetch=False)
    missing = sorted(
        t.name
        for t in mixture.tasks.values()
        if not t.source.in_place and t.name not in report.snapshots
    )
    if missing:
        raise FlanmixError(
            f"a dry run reads existing snapshots only; take them first with `flanmix snapshot` "
            f"(missing: {', '.join(missing[:5])}{' …' if len(missing) > 5 else ''})"
        )
    mixture = with_snapshots(mixture, report)
    warnings = []
    try:
        _check_reachable(mixture, "gs://dry-run", cache, str(setup.runner))
    except FlanmixError as e:
        warnings.append(str(e))
    layouts = layouts or LayoutOptions()
    if layouts.tokenizer and not is_url(layouts.tokenizer):
        warnings.append(
            f"the tokenizer {layouts.tokenizer} is on this machine, which remote workers "
            "cannot read: give its gs:// URL"
        )
    counts = count_sources(mixture, limit_per_task, progress)
    plan, windows = _plan_and_windows(mixture, counts)
    pipeline = beam.Pipeline(options=setup.options)
    staging = str(setup.options.get_all_options().get("temp_location") or "dry-run")
    settings = mixture.hygiene.decontamination
    index = f"{staging}/{INDEX_DIR}/ngrams.npz" if mixture.hygiene.eval_sets else None  # unbuilt
    build_graph(
        pipeline,
        **_graph_args(mixture, counts, plan, windows, read_shard_rows, staging, max_shard_bytes),
        **_selection_args(plan, windows, Checks(mixture.hygiene.dedup, index, settings.action)),
        layouts=layouts,
    )
    proto = pipeline.to_runner_api()
    if dataflow:
        result: Any = pipeline.run()  # Beam's dry run: the job request is made, not sent
        proto = result.job.proto_pipeline
    names = [t.unique_name for t in proto.components.transforms.values()]
    steps = sorted({n for n in names if n and "/" not in n and not n.startswith("ref_")})
    return DryRun(str(setup.runner), steps, len(names), setup.staged, warnings)


def _finalize(
    mixture: Mixture,
    counts: dict[str, TaskCount],
    plan: Plan,
    parts: list[Any],
    staging: Path,
    out: Path | str,
    command: str,
    limit: int | None,
    skipped: dict[str, str],
    hygiene: dict[str, Any],
    layouts: LayoutOptions | None = None,
    tokenizer: Any = None,
) -> BuildResult:
    by_kind: dict[str, list[Any]] = {}
    for kind, value in parts:
        by_kind.setdefault(kind, []).append(value)
    shards = {s["index"]: s for s in by_kind.get("shard", [])}
    if sorted(shards) != list(range(by_kind["num_shards"][0])):
        raise RuntimeError(f"internal error: shards {sorted(shards)} were written")
    written: dict[tuple[str, str], int] = {}
    for s in shards.values():
        for leaf, n in s["leaves"].items():
            task, tt = leaf.rsplit("/", 1)
            written[(task, tt)] = written.get((task, tt), 0) + n
    choices = dict(by_kind.get("choice", []))
    for leaf, c in choices.items():
        if written.get(leaf, 0) != c.selection.written:  # the shards hold what was selected
            raise RuntimeError(
                f"internal error: {leaf} selected {c.selection.written} rows, wrote "
                f"{written.get(leaf, 0)}; please report this with the mixture"
            )
    counts_by_reason = dict(by_kind.get("count", []))
    for leaf, c in choices.items():
        if c.duplicates:
            counts_by_reason[(leaf, DUPLICATE)] = c.duplicates
    stats = build_stats(plan, counts_by_reason, choices, written)
    shard_list = [
        {k: shards[i][k] for k in ("path", "rows", "bytes", "nbytes", "sha256")}
        for i in sorted(shards)
    ]
    digest = spec_hash(mixture, counts, limit, _hashed(hygiene))
    manifest = build_manifest(mixture, counts, shard_list, digest, command, limit, skipped)
    manifest["hygiene"] = hygiene
    manifest["excluded_tasks"] = mixture.excluded
    if "decontamination" in hygiene:
        evidence = written_evidence(
            by_kind.get("match", []),
            {leaf: c.selection for leaf, c in choices.items()},
            {leaf: c.excluded for leaf, c in choices.items()},
        )
        public = [{k: v for k, v in r.items() if k != "_key"} for r in evidence]
        store_bytes(f"{staging}/{EVIDENCE_FILE}", jsonl_bytes(public))
        stats["decontamination"] = {
            "action": hygiene["decontamination"]["action"],
            "rows": len({(r["task"], r["template_type"], tuple(r["_key"])) for r in evidence}),
            "by_task": contamination_counts(evidence),
        }
    # Self-improve tasks: what their collect step kept, once per collect folder (the CoT and
    # direct tasks of one round read the same folder).
    rounds: dict[str, tuple[list[str], dict[str, Any]]] = {}
    for name, task in sorted(mixture.tasks.items()):
        if (c := collected_stats(task)) is not None:
            rounds.setdefault(json.dumps(c, sort_keys=True), ([], c))[0].append(name)
    if rounds:
        stats["self_improve"] = {", ".join(names): c for names, c in rounds.values()}
    if layouts is not None and (layouts.folders or tokenizer is not None):
        # Shard i of every layout comes from flan shard i: the same count and order.
        made = layout_records([shards[i] for i in sorted(shards)], layouts, tokenizer, stats)
        manifest.update(made)
    write_json(f"{staging}/manifest.json", manifest)
    write_json(f"{staging}/stats.json", stats)
    counts_seen = ShardCounts()
    for i in sorted(shards):
        counts_seen.merge(shards[i]["counts"])
    summary_md = summary_markdown(summarize(staging, stats, manifest, counts=counts_seen))
    store_bytes(f"{staging}/README.md", dataset_card(manifest, stats, summary_md).encode())
    return BuildResult(out=out, plan=plan, manifest=manifest, stats=stats)
