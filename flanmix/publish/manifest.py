"""manifest.json (what was built from what) and stats.json (where every row went)."""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flanmix import __version__
from flanmix.plan.plan import Plan, epoch_name
from flanmix.sources.files import TaskCount
from flanmix.spec.load import Group, Mixture, parse_leaf_type

OVER_QUOTA = "over_quota"
READ = "read"


def _tree(group: Group) -> dict[str, Any]:
    if group.leaves:
        return {"name": group.name, "leaves": [list(leaf) for leaf in group.leaves]}
    return {"name": group.name, "members": [[w, _tree(m)] for w, m in group.members]}


def spec_hash(
    mixture: Mixture,
    counts: Mapping[str, TaskCount],
    limit: int | None,
    hygiene: Mapping[str, Any] | None = None,
) -> str:
    """A hash of everything that determines the output: the resolved spec, the templates and
    the source files' checksums (not their paths, which differ between machines)."""
    payload = {
        "name": mixture.name,
        "seed": mixture.seed,
        "epoch": epoch_name(mixture.epoch),
        "tree": _tree(mixture.tree),
        "tasks": {
            name: {
                "collection": t.collection,
                "task_source": t.task_source,
                "family": t.family,
                "source": t.source.model_dump(exclude={"path"}),
                "rate": t.rate.model_dump(),
                "files": [[f.sha256, f.rows] for f in counts[name].files],
            }
            for name, t in sorted(mixture.tasks.items())
        },
        "families": {n: f.spec.model_dump() for n, f in sorted(mixture.families.items())},
        "limit_per_task": limit,
    }
    if hygiene and (hygiene.get("dedup") != "none" or "decontamination" in hygiene):
        payload["hygiene"] = hygiene  # the index's digest stands for the eval sets' texts
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def build_stats(
    plan: Plan,
    counts: Mapping[tuple[tuple[str, str], str], int],
    choices: Mapping[tuple[str, str], tuple[Any, ...]],  # (selection, valid, …)
    written: Mapping[tuple[str, str], int],
) -> dict[str, Any]:
    """Per leaf: available + repeated = written + sum(dropped). `counts` holds the pipeline's
    ((leaf, "read" | reason), n) totals, reasons counted for the rows of the leaf's render
    window; `choices` the leaf's selection and how many window rows rendered (`valid`);
    `written` is counted from the shards themselves. Rows outside the selection are
    `over_quota`, whether or not they were rendered."""
    by_leaf: dict[tuple[str, str], dict[str, int]] = defaultdict(dict)
    for (leaf, name), n in counts.items():
        by_leaf[leaf][name] = n
    total = sum(written.values())
    leaves = []
    drops_total: dict[str, int] = defaultdict(int)
    by_collection: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    by_type: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for lp in plan.leaves:
        leaf = (lp.task, lp.template_type)
        read = by_leaf[leaf].get(READ, 0)
        dropped = {k: v for k, v in sorted(by_leaf[leaf].items()) if k != READ}
        sel, valid = choices[leaf][:2] if leaf in choices else (None, 0)
        distinct = sel.distinct if sel else 0
        if read - distinct - sum(dropped.values()):
            dropped[OVER_QUOTA] = read - distinct - sum(dropped.values())
        n_written = written.get(leaf, 0)
        for reason, n in dropped.items():
            drops_total[reason] += n
        leaves.append(
            {
                "leaf": lp.leaf,
                "collection": lp.collection,
                "task": lp.task,
                "template_type": lp.template_type,
                "available": read,
                "valid": valid,
                "quota": lp.quota,
                "written": n_written,
                "repeated": n_written - distinct,
                "dropped": dict(sorted(dropped.items())),
                "requested_share": lp.share,
                "planned_share": lp.quota / plan.total if plan.total else 0.0,
                "realised_share": n_written / total if total else 0.0,
            }
        )
        template_type = parse_leaf_type(lp.template_type)[0]  # x-shot leaves are fs_* too
        for agg, key in ((by_collection, lp.collection), (by_type, template_type)):
            agg[key]["requested_share"] += lp.share
            agg[key]["written"] += n_written
    for agg in (by_collection, by_type):
        for value in agg.values():
            value["written"] = int(value["written"])
            value["realised_share"] = value["written"] / total if total else 0.0
    return {
        "mixture": plan.mixture,
        "seed": plan.seed,
        "epoch": plan.epoch,
        "planned_rows": plan.total,
        "written_rows": total,
        "dropped": dict(sorted(drops_total.items())),
        "collections": {k: dict(v) for k, v in sorted(by_collection.items())},
        "template_types": {k: dict(v) for k, v in sorted(by_type.items())},
        "leaves": leaves,
    }


def build_manifest(
    mixture: Mixture,
    counts: Mapping[str, TaskCount],
    shards: list[dict[str, Any]],
    spec_digest: str,
    command: str,
    limit: int | None,
    skipped: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    return {
        "flanmix_version": __version__,
        "mixture": mixture.name,
        "mixture_file": mixture.file,
        "spec_hash": spec_digest,
        "seed": mixture.seed,
        "epoch": epoch_name(mixture.epoch),
        "limit_per_task": limit,
        "command": command,
        "sources": [_source(mixture, name, count) for name, count in sorted(counts.items())],
        "skipped_sources": dict(sorted((skipped or {}).items())),
        "templates": {
            name: hashlib.sha256(Path(f.doc.file).read_bytes()).hexdigest()
            for name, f in sorted(mixture.families.items())
        },
        "total_rows": sum(s["rows"] for s in shards),
        "shards": shards,
    }


def _source(mixture: Mixture, name: str, count: TaskCount) -> dict[str, Any]:
    task = mixture.tasks[name]
    origin = task.origin or task.source
    entry: dict[str, Any] = {
        "task": name,
        "kind": origin.kind,
        "location": origin.location,
        "license": task.license,
        "rows": count.rows,
        "files": [{"path": f.path, "rows": f.rows, "sha256": f.sha256} for f in count.files],
    }
    if task.snapshot:
        keys = ("revision", "resolved_revision", "inputs", "dropped", "checks")
        entry["snapshot"] = {k: task.snapshot[k] for k in keys if k in task.snapshot}
    return entry


def write_json(path: Path | str, data: Any) -> None:
    from flanmix.publish.parquet import store_bytes

    store_bytes(str(path), (json.dumps(data, indent=2, sort_keys=False) + "\n").encode("utf-8"))
