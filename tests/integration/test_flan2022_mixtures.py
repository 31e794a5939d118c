"""The bundled Flan 2022 mixtures: their plans against Flan's own numbers, the variants, and
a real build of the cot submixture on the ../shared TSVs."""

from __future__ import annotations

import csv
import json
import math
import subprocess
import sys
from functools import cache
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner
from conftest import ROOT

from flanmix.build import build
from flanmix.cli.main import cli
from flanmix.plan.counts import FLAN_KINDS, T0_PREFIX, leaf_counts, read_counts
from flanmix.plan.explain import totals
from flanmix.plan.plan import Plan, make_plan
from flanmix.spec.load import Mixture, load_mixture, make_leaf_type

SUBMIX = {"flan2021": 0.40, "t0": 0.32, "niv2": 0.20, "cot": 0.05, "dialog": 0.03}
TYPES = {"zs_opt": 0.32, "fs_opt": 0.32, "zs_noopt": 0.18, "fs_noopt": 0.18}


@cache
def mixture(name: str) -> Mixture:
    return load_mixture(name)


def oracle_file(shared: Path) -> Path:
    path = shared / "flan_v2" / "mixture_rates.csv"
    if not path.is_file():
        pytest.skip(f"{path} is absent: the Flan 2022 oracle is not beside the repo")
    return path


def counts_with_per_task_niv2(shared: Path, tmp_path: Path) -> Path:
    """Flan's table, with a count for every NIv2 task (Flan counts NIv2 as one task)."""
    path = tmp_path / "counts.csv"
    niv2 = [t for t in mixture("flan2022").tasks.values() if t.collection == "niv2"]
    leaves = []
    with open(oracle_file(shared), encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f):
            if row["submix"] != "niv2_submix":
                kind = FLAN_KINDS[row["template_kind"]]
                task = row["base_task"].removeprefix(T0_PREFIX)
                leaves.append((task, make_leaf_type(row["template_type"], kind), row["num_cases"]))
    for i, task in enumerate(sorted(t.name for t in niv2)):
        for leaf_type in ("zs_opt", "fs_opt", "fs_opt+x_shot"):
            leaves.append((task, leaf_type, str(30 + 17 * i)))
    with open(path, "w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["task", "leaf_type", "n"])
        writer.writerows(leaves)
    return path


def submix_shares(plan: Plan) -> dict[str, float]:
    out: dict[str, float] = {}
    for g in totals(plan, "collection"):  # cot_ii and dialog_ii belong to their submix
        name = g["collection"].removesuffix("_ii")
        out[name] = out.get(name, 0.0) + g["share"]
    return out


def test_flan2022_upstream_reproduces_every_leaf_share_of_the_public_code(
    shared_data: Path,
) -> None:
    oracle = oracle_file(shared_data)
    m = mixture("flan2022-upstream")
    plan = make_plan(m, leaf_counts(m, read_counts(oracle), str(oracle)))
    shares = {(lp.task, lp.template_type): lp.share for lp in plan.leaves}
    assert len(shares) == 1389
    with open(oracle, encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 1389
    for row in rows:
        kind = FLAN_KINDS[row["template_kind"]]
        leaf = (
            row["base_task"].removeprefix(T0_PREFIX),
            make_leaf_type(row["template_type"], kind),
        )
        assert abs(shares[leaf] - float(row["normalized_share"])) < 1e-9, (leaf, row["path"])


def test_flan2022_plan_has_the_published_proportions(shared_data: Path, tmp_path: Path) -> None:
    counts = counts_with_per_task_niv2(shared_data, tmp_path)
    result = CliRunner().invoke(
        cli, ["plan", "--mixture", "flan2022", "--counts", str(counts), "--format", "json"]
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    m = mixture("flan2022")
    plan = make_plan(m, leaf_counts(m, read_counts(counts), str(counts)))
    for name, share in submix_shares(plan).items():
        assert math.isclose(share, SUBMIX[name], abs_tol=1e-12), name
    by_type = {g["template_type"]: g["share"] for g in data["totals"]["template_type"]}
    assert by_type == pytest.approx(TYPES, abs=1e-12)
    by_collection = {g["collection"]: g["share"] for g in data["totals"]["collection"]}
    assert by_collection["cot_ii"] / SUBMIX["cot"] == pytest.approx(0.3 / 1.3, abs=1e-12)
    assert by_collection["dialog_ii"] / SUBMIX["dialog"] == pytest.approx(0.3 / 1.3, abs=1e-12)
    niv2 = [lp for lp in plan.leaves if lp.collection == "niv2"]
    assert len({lp.task for lp in niv2}) == 699 and all(lp.cap == 5000 for lp in niv2)
    leaf_csv = CliRunner().invoke(
        cli, ["plan", "--mixture", "flan2022", "--counts", str(counts), "--format", "csv"]
    )
    header = leaf_csv.output.splitlines()[0]
    assert header.startswith("leaf,collection,template_type,task,n,cap,rate,share,quota")


def test_the_variants(shared_data: Path, tmp_path: Path) -> None:
    no_fewshot = mixture("flan2022-no-fewshot")
    assert {tt for _, tt in no_fewshot.leaves()} == {"zs_opt", "zs_noopt"}
    counts = counts_with_per_task_niv2(shared_data, tmp_path)
    plan = make_plan(no_fewshot, leaf_counts(no_fewshot, read_counts(counts), str(counts)))
    assert submix_shares(plan) == pytest.approx(SUBMIX, abs=1e-12)
    muffin = mixture("flan2021-muffin")
    assert len(muffin.tasks) == 71 and {tt for _, tt in muffin.leaves()} == {"zs_opt"}
    assert {t.rate.cap for t in muffin.tasks.values()} == {3000}  # type: ignore[union-attr]


def test_the_mixture_files_are_generated_from_the_registry(tmp_path: Path) -> None:
    script = ROOT / "scripts" / "make_flan2022_mixtures.py"
    subprocess.run([sys.executable, str(script), "--out", str(tmp_path)], check=True)
    for made in sorted(tmp_path.glob("*.yaml")):
        shipped = ROOT / "mixtures" / made.name
        assert made.read_text() == shipped.read_text(), f"{shipped} is stale: run {script}"


def test_counts_files_say_what_is_missing_or_wrong(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("name,rows\nx,1\n")
    result = CliRunner().invoke(cli, ["plan", "--mixture", "demo", "--counts", str(bad)])
    assert result.exit_code == 1 and "needs the columns `task,n`" in result.output
    partial = tmp_path / "partial.csv"
    partial.write_text("task,n\ndemo_qa,10\n")
    result = CliRunner().invoke(cli, ["plan", "--mixture", "demo", "--counts", str(partial)])
    assert result.exit_code == 1 and "has no count for 21 leaf(s): demo_arithmetic_cot/" in (
        result.output
    )
    partial.write_text("task,n\ndemo_qa,ten\n")
    result = CliRunner().invoke(cli, ["plan", "--mixture", "demo", "--counts", str(partial)])
    assert f"{partial}:2: count 'ten' is not a whole number" in result.output


def test_the_cot_submixture_builds_on_the_shared_files(
    shared_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FLAN_V2_DIR", str(shared_data / "flan_v2"))
    result = build(load_mixture("cot"), tmp_path / "out", limit_per_task=120)
    skipped = result.manifest["skipped_sources"]
    assert set(skipped) == {
        "cot_esnli",
        "cot_input_inversion_esnli",
        "stream_qed",
        "stream_input_inversion_qed",
    }
    assert "source file not found" in skipped["cot_esnli"]
    card = (tmp_path / "out" / "README.md").read_text()
    assert "`cot_esnli`" in card and "`stream_qed`" in card
    assert "**Left out:** 4 task(s) whose source failed:" in card  # the embedded summary
    assert "| fs_opt |" in card and "| fs_opt+x_shot |" not in card  # template types, not leaves
    rows = pq.read_table(tmp_path / "out" / "data").to_pylist()
    total = len(rows)
    for leaf in result.stats["leaves"]:  # realised = planned, leaf by leaf
        assert leaf["written"] == leaf["quota"]
        assert leaf["realised_share"] == pytest.approx(leaf["quota"] / total, abs=1e-12)
    assert {r["task_source"] for r in rows} == {"CoT"}
    inverted = [r for r in rows if r["task_name"].startswith(("cot_input", "stream_input"))]
    assert inverted and {r["template_type"] for r in inverted} == {"zs_opt", "fs_opt"}


def test_plan_groups_and_names_the_leaf_that_ends_the_epoch() -> None:
    result = CliRunner().invoke(cli, ["plan", "--mixture", "demo", "--group-by", "template_type"])
    assert result.exit_code == 0, result.output
    lines = [line for line in result.output.splitlines() if not line.startswith("·")]
    assert lines[1].split() == ["template_type", "leaves", "n", "share", "quota", "realised"]
    assert any(line.startswith("fs_opt ") for line in lines)  # x-shot leaves count as fs_opt
    assert "one first_exhausted epoch: 2,000 rows; exhausted first: demo_arithmetic_cot/" in (
        result.output
    )
    as_csv = CliRunner().invoke(
        cli, ["plan", "--mixture", "demo", "--group-by", "task", "-m", "demo", "--format", "csv"]
    )
    header = next(line for line in as_csv.output.splitlines() if line.startswith("task,"))
    assert header == "task,leaves,n,share,quota,realised_share"


def test_only_template_types_names_a_bad_type(tmp_path: Path) -> None:
    path = tmp_path / "zs.yaml"
    path.write_text("name: zs\ninclude: {demo: 1}\nonly_template_types: [zs_op]\n")
    result = CliRunner().invoke(cli, ["validate", str(path)])
    assert result.exit_code == 1
    assert "unknown template type 'zs_op'; did you mean 'zs_opt'?" in result.output


def test_counts_files_combine_and_refuse_duplicates(tmp_path: Path) -> None:
    m = mixture("demo")
    leaf_file = tmp_path / "leaves.csv"
    rows = ["task,leaf_type,n"] + [f"{t},,100" for t in sorted(m.tasks)]
    rows.append("demo_qa,zs_opt,7")
    leaf_file.write_text("\ufeff" + "\n".join(rows) + "\n")  # a spreadsheet's BOM
    later = tmp_path / "later.csv"
    later.write_text("task,n\ndemo_sentiment,55\n")
    result = CliRunner().invoke(
        cli,
        [
            "plan",
            "--mixture",
            "demo",
            "--counts",
            str(leaf_file),
            "--counts",
            str(later),
            "--format",
            "json",
        ],
    )
    assert result.exit_code == 0, result.output
    n = {r["leaf"]: r["n"] for r in json.loads(result.output)["leaves"]}
    assert n["demo_qa/zs_opt"] == 7 and n["demo_qa/zs_noopt"] == 100
    assert n["demo_sentiment/zs_opt"] == 55  # the later file wins
    leaf_file.write_text("task,n\ndemo_qa,1\ndemo_qa,2\n")
    result = CliRunner().invoke(cli, ["plan", "--mixture", "demo", "--counts", str(leaf_file)])
    assert f"{leaf_file}:3: a second count for demo_qa" in result.output
    leaf_file.write_text("task,n\ndemo_qa,inf\n")
    result = CliRunner().invoke(cli, ["plan", "--mixture", "demo", "--counts", str(leaf_file)])
    assert "count 'inf' is not a whole number" in result.output
