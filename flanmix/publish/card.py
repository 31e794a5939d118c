"""The dataset card (README.md): YAML front matter the Hub and `datasets` read, then prose."""

from __future__ import annotations

import re
from typing import Any

import pyarrow as pa
import yaml

from flanmix.publish.layouts import card_snippets
from flanmix.publish.parquet import SCHEMA

_DTYPES = {pa.string(): "string", pa.int64(): "int64"}


def features_yaml() -> list[dict[str, str]]:
    out = []
    for f in SCHEMA:
        if pa.types.is_list(f.type):
            out.append({"name": f.name, "list": _DTYPES[f.type.value_type]})
        else:
            out.append({"name": f.name, "dtype": _DTYPES[f.type]})
    return out


def _license(manifest: dict[str, Any]) -> str:
    """The Hub's license id when every source shares one (ids are lower-case), else "other"."""
    licenses = {s["license"] for s in manifest["sources"]}
    only = licenses.pop() if len(licenses) == 1 else None
    return only.lower() if only and re.fullmatch(r"[A-Za-z0-9.\-]+", only) else "other"


def size_category(rows: int) -> str:
    """The Hub's `size_categories` tag for a row count."""
    bounds = [(1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K")]
    bounds += [(1_000_000, "100K<n<1M"), (10_000_000, "1M<n<10M"), (100_000_000, "10M<n<100M")]
    bounds += [(1_000_000_000, "100M<n<1B")]
    return next((name for limit, name in bounds if rows < limit), "n>1B")


def dataset_card(
    manifest: dict[str, Any], stats: dict[str, Any], summary_md: str | None = None
) -> str:
    """The card; `summary_md` (`summary.summary_markdown`, headings at level 3) becomes its
    "Contents at a glance" section."""
    layouts = list(manifest.get("layouts") or {})
    meta = {
        "configs": [
            {"config_name": "default", "data_files": [{"split": "train", "path": "data/train-*"}]}
        ]
        + [
            {"config_name": name, "data_files": [{"split": "train", "path": f"{name}/train-*"}]}
            for name in layouts
        ],
        "dataset_info": {
            "features": features_yaml(),
            "splits": [
                {
                    "name": "train",
                    "num_bytes": sum(s["nbytes"] for s in manifest["shards"]),
                    "num_examples": manifest["total_rows"],
                }
            ],
        },
        "license": _license(manifest),
        "size_categories": [size_category(manifest["total_rows"])],
        "task_categories": ["text-generation"],
        "tags": ["flanmix", "instruction-tuning"],
    }
    lines = [
        "---",
        yaml.safe_dump(meta, sort_keys=False).rstrip(),
        "---",
        "",
        f"# {manifest['mixture']} (built with flanmix {manifest['flanmix_version']})",
        "",
        f"{manifest['total_rows']:,} rows in {len(manifest['shards'])} Parquet shard(s), "
        f"seed {manifest['seed']}, epoch rule `{manifest['epoch']}`, spec hash "
        f"`{manifest['spec_hash'][:16]}`.",
        "",
        "```python",
        "from datasets import load_dataset",
        'ds = load_dataset("path/or/repo", split="train")',
        "```",
        "",
    ]
    if summary_md:
        lines += ["## Contents at a glance", "", summary_md.rstrip("\n"), ""]
    lines += [
        "## Collections",
        "",
        "| collection | requested share | realised share | rows |",
        "| --- | ---: | ---: | ---: |",
    ]
    for name, c in stats["collections"].items():
        lines.append(
            f"| {name} | {c['requested_share']:.4%} | {c['realised_share']:.4%} | "
            f"{c['written']:,} |"
        )
    lines += [
        "",
        "## Leaves (task × template type)",
        "",
        "| leaf | available | quota | written | dropped |",
        "| --- | ---: | ---: | ---: | --- |",
    ]
    for leaf in stats["leaves"]:
        drops = ", ".join(f"{k}: {v:,}" for k, v in leaf["dropped"].items()) or "-"
        lines.append(
            f"| {leaf['leaf']} | {leaf['available']:,} | {leaf['quota']:,} | "
            f"{leaf['written']:,} | {drops} |"
        )
    lines += [
        "",
        "## Sources",
        "",
        "| task | kind | location | revision | rows | license | sha256 |",
        "| --- | --- | --- | --- | ---: | --- | --- |",
    ]
    for s in manifest["sources"]:
        sha = ", ".join(f["sha256"][:12] for f in s["files"])
        snap = s.get("snapshot", {})
        revision = str(snap.get("resolved_revision") or snap.get("revision") or "-")[:12]
        lines.append(
            f"| {s['task']} | {s['kind']} | {s['location']} | {revision} | {s['rows']:,} | "
            f"{s['license'] or 'unknown'} | {sha} |"
        )
    skipped = manifest.get("skipped_sources") or {}
    if skipped:
        lines += [
            "",
            f"**Incomplete: {len(skipped)} task(s) were left out because their source failed** "
            "(tasks marked `optional`, or `--skip-failed-sources`):",
            "",
        ]
        lines += [f"- `{task}`: {why}" for task, why in skipped.items()]
    if layouts:
        lines += ["", "## Layouts for trainers", ""]
        lines.append(
            "Besides the default config (the `flan` columns in `data/`), each layout is a "
            "config of its own, with the same rows in the same order."
        )
        if "packing" in stats:
            p = stats["packing"]
            lines.append(
                f"Packed rows ({p['kind']}, {p['length']:,} tokens"
                + (f", targets {p['target_length']:,}" if "target_length" in p else "")
                + f"): {p['examples']:,} examples in {p['rows']:,} rows, packing efficiency "
                f"{p['efficiency']:.1%} (real tokens / all tokens); {p['dropped_overlong']:,} "
                f"dropped and {p['truncated']:,} truncated as overlong. Tokenizer sha256 "
                f"`{manifest['tokenizer']['sha256'][:16]}`."
            )
        lines.append("")
        lines += list(card_snippets(layouts))
    lines += [
        "",
        "## Columns",
        "",
        "`inputs`, `targets`, `task_source`, `task_name`, `template_type` as in the released "
        "Flan 2022 data; `collection`, `template_id`, `template_idx`, `example_id`, "
        "`exemplar_ids`, `options` (the answer choices, shown in the prompt for `*_opt` "
        "template types only), `seed` for provenance.",
        "",
        "## Reproduce",
        "",
        "```",
        manifest["command"],
        "```",
        "",
        "`manifest.json` lists source checksums and shard checksums; `stats.json` accounts for "
        "every row read (written or dropped, by reason).",
        "",
    ]
    return "\n".join(lines)
