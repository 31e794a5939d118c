"""Bundled families whose fields no demo task has (the Flan 2022 families) render a few
sample records in the shape their sources have (tests/fixtures/family_samples/<family>.json):
every template, every type it serves, inverted ones too, with nothing undefined."""

from __future__ import annotations

import json
from typing import Any

import pytest
from conftest import ROOT

from flanmix.bundled import bundled_dir, bundled_names
from flanmix.render.render import LeafContext, render_example
from flanmix.render.templates import compile_family
from flanmix.sources.files import Example
from flanmix.spec.load import load_family, make_leaf_type

SAMPLES = ROOT / "tests" / "fixtures" / "family_samples"
SAMPLED = sorted(p.stem for p in SAMPLES.glob("*.json"))


def samples(name: str) -> list[Example]:
    records: list[dict[str, Any]] = json.loads((SAMPLES / f"{name}.json").read_text())
    return [Example(name, f"s{i}", i, r) for i, r in enumerate(records)]


def test_every_sampled_family_is_bundled() -> None:
    assert set(SAMPLED) <= set(bundled_names("templates"))


@pytest.mark.parametrize("name", SAMPLED)
def test_sampled_family_renders_every_template_and_type(name: str) -> None:
    family = compile_family(load_family(name, [bundled_dir("templates")]))
    examples = samples(name)
    pool = examples * 3  # exemplars are drawn from the pool, never the query itself
    pool = [Example(name, f"p{i}", 100 + i, e.fields) for i, e in enumerate(pool)]
    served: set[tuple[str, bool]] = set()
    for t in family.templates:
        for tt in t.spec.types:
            served.add((tt, t.spec.inverted))
    assert served, f"{name} has no templates"
    for template_type, inverted in sorted(served):
        formats = ["template_mix", "x_shot"] if template_type.startswith("fs_") else [None]
        for fmt in formats:
            leaf_type = make_leaf_type(template_type, fmt)
            ctx = LeafContext(name, "c", "Src", leaf_type, 3, inverted=inverted)
            for ex in examples:
                row, reason = render_example(family, ctx, ex, pool=pool)
                if reason == "no_exemplars" and fmt == "x_shot":
                    continue  # x-shot keeps only candidates with the query's template
                assert row is not None, f"{name}/{leaf_type} inverted={inverted}: {reason}"
                assert row["inputs"].strip() and row["targets"].strip()
