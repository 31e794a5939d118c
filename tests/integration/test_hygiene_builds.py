"""Builds with deduplication and decontamination: what is dropped, what is kept, the
evidence, and byte-identical output whatever the workers and read shards."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow.dataset as pads
import pytest
from conftest import write_jsonl

from flanmix.build import build
from flanmix.hashing import stable_hash
from flanmix.hygiene.dedup import normal_text
from flanmix.hygiene.evalsets import with_hygiene
from flanmix.spec.load import load_mixture

ECHO = """\
family: echo
description: One template that copies the text, so duplicates in the source stay duplicates.
templates:
  - id: echo_01
    input: "Repeat: {{ text }}"
    target: "{{ label }}"
    types: [zs_opt, zs_noopt]
"""

ONE = """\
name: one
seed: 5
templates_dir: templates
epoch: {{total: {total}}}
dedup: {dedup}
collections:
  c:
    template_types: {{zs_noopt: 1}}
    tasks:
      t: {{templates: echo, source: {{kind: jsonl, path: data/t.jsonl, id_field: id}}}}
"""


def read_rows(out: Path) -> list[dict[str, Any]]:
    return pads.dataset(out / "data", format="parquet").to_table().to_pylist()


def check_accounting(stats: dict[str, Any]) -> None:
    for leaf in stats["leaves"]:
        dropped = sum(leaf["dropped"].values())
        assert leaf["available"] + leaf["repeated"] == leaf["written"] + dropped, leaf


def noisy_duplicates(n: int, distinct: int) -> list[dict[str, str]]:
    """n records over `distinct` texts, repeated with other case and spacing."""
    out = []
    for i in range(n):
        j = i % distinct
        text = f"story {j} about the hills"
        text = [text, text.upper(), f"  story {j}\tabout  the hills "][(i // distinct) % 3]
        out.append({"id": f"r{i:05d}", "text": text, "label": "yes"})
    return out


def test_dedup_keeps_the_smallest_hash_of_each_text_and_still_fills_the_quota(
    make_mixture: Callable[..., Path], tmp_path: Path
) -> None:
    records = noisy_duplicates(900, 300)  # every text three times
    path = make_mixture(
        ONE.format(total=200, dedup="task"), data={"t.jsonl": records}, templates={"echo": ECHO}
    )
    said: list[str] = []
    result = build(load_mixture(str(path)), tmp_path / "out", progress=said.append)
    rows = read_rows(tmp_path / "out")
    (leaf,) = result.stats["leaves"]
    assert leaf["written"] == 200 == len(rows)  # enough unique rows: the quota is met
    assert leaf["dropped"]["duplicate"] > 0
    check_accounting(result.stats)
    # Expected: per text, the row with the smallest selection hash; then the quota smallest.
    rank = {
        r["id"]: (stable_hash(5, "t", r["id"], "zs_noopt", "select"), i)
        for i, r in enumerate(records)
    }
    winners: dict[str, str] = {}
    for r in records:
        key = normal_text(r["text"])
        if key not in winners or rank[r["id"]] < rank[winners[key]]:
            winners[key] = r["id"]
    expected = sorted(winners.values(), key=rank.__getitem__)[:200]
    assert sorted(r["example_id"] for r in rows) == sorted(expected)
    assert len({normal_text(r["inputs"]) for r in rows}) == 200


def test_dedup_duplicates_beyond_the_window_widen_it(
    make_mixture: Callable[..., Path], tmp_path: Path
) -> None:
    records = noisy_duplicates(1_200, 130)  # ~9 copies of each text: the window runs short
    path = make_mixture(
        ONE.format(total=120, dedup="task"), data={"t.jsonl": records}, templates={"echo": ECHO}
    )
    said: list[str] = []
    result = build(load_mixture(str(path)), tmp_path / "out", progress=said.append)
    assert any("widening" in line for line in said), said
    rows = read_rows(tmp_path / "out")
    assert len(rows) == 120 == len({normal_text(r["inputs"]) for r in rows})
    check_accounting(result.stats)


BOTH_TYPES = """\
name: both
seed: 2
templates_dir: templates
epoch: {total: 60}
dedup: task
collections:
  c:
    template_types: {zs_opt: 1, zs_noopt: 1}
    tasks:
      t: {templates: echo, source: {kind: jsonl, path: data/t.jsonl, id_field: id}}
"""


def test_two_template_types_rendering_the_same_text_each_fill_their_quota(
    make_mixture: Callable[..., Path], tmp_path: Path
) -> None:
    """The echo template renders zs_opt and zs_noopt alike: every text is written once, by
    the leaf whose copy has the smaller hash, and each leaf still gets its 30 rows."""
    records = [{"id": f"r{i}", "text": f"text {i}", "label": "x"} for i in range(100)]
    path = make_mixture(BOTH_TYPES, data={"t.jsonl": records}, templates={"echo": ECHO})
    result = build(load_mixture(str(path)), tmp_path / "out")
    rows = read_rows(tmp_path / "out")
    assert len(rows) == 60 == len({r["inputs"] for r in rows})
    assert {leaf["leaf"]: leaf["written"] for leaf in result.stats["leaves"]} == {
        "t/zs_noopt": 30,
        "t/zs_opt": 30,
    }
    check_accounting(result.stats)


TWO_TASKS = """\
name: two
seed: 1
templates_dir: templates
epoch: all
dedup: {dedup}
collections:
  c:
    template_types: {{zs_noopt: 1}}
    tasks:
      a: {{templates: echo, source: {{kind: jsonl, path: data/a.jsonl, id_field: id}}}}
      b: {{templates: echo, source: {{kind: jsonl, path: data/b.jsonl, id_field: id}}}}
"""


@pytest.mark.parametrize(("scope", "written"), [("none", 40), ("task", 40), ("mixture", 30)])
def test_dedup_scope_task_or_mixture(
    make_mixture: Callable[..., Path], tmp_path: Path, scope: str, written: int
) -> None:
    a = [{"id": f"a{i}", "text": f"shared text {i}", "label": "x"} for i in range(20)]
    b = [{"id": f"b{i}", "text": f"shared text {i}", "label": "x"} for i in range(10)]
    b += [{"id": f"b{i}", "text": f"own text {i}", "label": "x"} for i in range(10, 20)]
    path = make_mixture(
        TWO_TASKS.format(dedup=scope), data={"a.jsonl": a, "b.jsonl": b}, templates={"echo": ECHO}
    )
    result = build(load_mixture(str(path)), tmp_path / scope)
    rows = read_rows(tmp_path / scope)
    assert len(rows) == written
    assert result.stats["dropped"].get("duplicate", 0) == 40 - written
    if scope == "mixture":  # of each shared pair, the copy with the smaller hash stays
        for i in range(10):
            ka, kb = (stable_hash(1, t, f"{t}{i}", "zs_noopt", "select") for t in "ab")
            kept = {r["example_id"] for r in rows if r["inputs"] == f"Repeat: shared text {i}"}
            assert kept == {f"a{i}" if ka < kb else f"b{i}"}


def digests(out: Path) -> dict[str, str]:
    files = sorted((out / "data").glob("*.parquet")) + [out / "decontamination.jsonl"]
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in files}


@pytest.fixture(scope="module")
def leaky_demo(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The demo with an eval set that holds a passage of one QA context (a planted leak)."""
    base = tmp_path_factory.mktemp("leak")
    qa = Path(__file__).parents[2] / "mixtures" / "demo_data" / "qa.jsonl"
    planted = json.loads(qa.read_text().splitlines()[4])
    passage = planted["context"]
    evals = base / "heldout.jsonl"
    write_jsonl(
        evals,
        [
            {"question": f"Read this. {passage.upper()} What follows?", "answer": "A"},
            {"question": "An eval question that no training row shares anything with at all."},
        ],
    )
    mixture = with_hygiene(load_mixture("demo"), "mixture", [str(evals)], "drop")
    outs = {}
    for name, kwargs in {
        "one": {},
        "two": {"workers": 2, "read_shard_rows": 40},
    }.items():
        outs[name] = build(mixture, base / name, max_shard_bytes=60_000, **kwargs)
    return {"planted": planted, "passage": passage, "outs": outs, "base": base}


def test_a_planted_leak_is_dropped_and_reported_with_the_matched_text(
    leaky_demo: dict[str, Any],
) -> None:
    out = leaky_demo["base"] / "one"
    evidence = [
        json.loads(line) for line in (out / "decontamination.jsonl").read_text().splitlines()
    ]
    assert evidence, "the planted leak was not found"
    planted_id = leaky_demo["planted"]["id"]
    direct = [e for e in evidence if e["example_id"] == planted_id]
    assert direct and all(e["eval_set"] == "heldout" and e["eval_item"] == "0" for e in direct)
    words = " ".join(leaky_demo["passage"].lower().replace(",", " ").replace(".", " ").split())
    assert all(e["ngram"] in words and len(e["ngram"].split()) == 13 for e in evidence)
    # Few-shot rows whose exemplars hold the passage are contaminated too.
    assert {e["task"] for e in evidence} == {"demo_qa"}
    rows = read_rows(out)
    assert not any(leaky_demo["passage"] in r["inputs"] for r in rows)
    stats = leaky_demo["outs"]["one"].stats
    assert stats["dropped"]["contaminated"] == len(evidence)
    assert stats["decontamination"]["by_task"] == {"demo_qa": {"heldout": len(evidence)}}
    check_accounting(stats)
    manifest = leaky_demo["outs"]["one"].manifest
    assert manifest["hygiene"]["decontamination"]["eval_sets"][0]["items"] == 2
    assert not (out / "_hygiene").exists()


def test_hygiene_builds_are_identical_whatever_the_workers_and_read_shards(
    leaky_demo: dict[str, Any],
) -> None:
    one, two = (digests(leaky_demo["base"] / n) for n in ("one", "two"))
    assert len(one) > 2 and one == two
    m1, m2 = (leaky_demo["outs"][n].manifest for n in ("one", "two"))
    assert m1["spec_hash"] == m2["spec_hash"]


def test_the_spec_hash_changes_with_hygiene(leaky_demo: dict[str, Any], tmp_path: Path) -> None:
    plain = build(load_mixture("demo"), tmp_path / "plain", max_shard_bytes=60_000)
    assert plain.manifest["spec_hash"] != leaky_demo["outs"]["one"].manifest["spec_hash"]
    assert not (tmp_path / "plain" / "decontamination.jsonl").exists()
