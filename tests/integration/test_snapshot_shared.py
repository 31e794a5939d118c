"""Snapshots of the real ../shared data through the real code paths: Flan's CoT TSVs fetched as
url sources (pinned by the registry's sha256) from a loopback server, and NIv2 task files from
a checkout and from a Hub mirror served by the fake Hub. Counts match the files; a second
snapshot is byte-identical."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import urlparse

import pyarrow.parquet as pq
import yaml
from click.testing import CliRunner
from conftest import TINY_TEMPLATES
from fakehub import FakeHub

from flanmix.cli.main import cli
from flanmix.registry import load_registry, select

NIV2_TRAIN = {
    "task062_bigbench_repeat_copy_logic": 29,
    "task1146_country_capital": 60,
    "task1149_item_check_edible": 119,
    "task846_pubmedqa_classification": 20,
}


def write_mixture(folder: Path, sources: dict[str, dict]) -> Path:
    (folder / "templates").mkdir(parents=True, exist_ok=True)
    (folder / "templates" / "tiny.yaml").write_text(TINY_TEMPLATES)
    tasks = {name: {"templates": "tiny", "source": src} for name, src in sources.items()}
    doc = {
        "name": "shared-snapshots",
        "templates_dir": "templates",
        "collections": {"c": {"template_types": {"zs_opt": 1}, "tasks": tasks}},
    }
    path = folder / "mixture.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def snapshot(mixture: Path, cache: Path, *args: str) -> str:
    result = CliRunner().invoke(
        cli, ["snapshot", "--mixture", str(mixture), "--cache", str(cache), *args]
    )
    assert result.exit_code == 0, result.output
    return result.output


def infos(cache: Path) -> dict[str, dict]:
    """snapshot.json of every snapshot, by location's file name."""
    out = {}
    for f in sorted((cache / "snapshots").glob("*/snapshot.json")):
        info = json.loads(f.read_text())
        out[info["location"].rsplit("/", 1)[-1]] = {**info, "dir": f.parent}
    return out


def test_flan_cot_tsvs_through_the_url_source(
    shared_data: Path, hub: FakeHub, tmp_path: Path
) -> None:
    cot_dir = shared_data / "flan_v2" / "cot_data"
    sources = {}
    for entry in select(load_registry(), ("cot",)):
        if entry.verified != "yes":
            continue  # esnli and qed are not in ../shared
        path = urlparse(entry.location).path  # served at the same path as on GitHub
        url = hub.add_file(path, cot_dir / path.rsplit("/", 1)[-1])
        sources[entry.task] = {"kind": "cot", "url": url, "sha256": entry.sha256}
    assert len(sources) == 7
    mixture = write_mixture(tmp_path, sources)
    output = snapshot(mixture, tmp_path / "cache")
    assert "7 task(s) from 7 snapshot(s), 33,443 rows" in output
    first = infos(tmp_path / "cache")
    for name, info in first.items():
        lines = (cot_dir / name).read_text(encoding="utf-8").count("\n")
        assert info["rows"] == lines and info["dropped"] == {}, name
    assert first["gsm8k_train.tsv"]["rows"] == 7473
    gsm8k = pq.read_table(first["gsm8k_train.tsv"]["dir"] / "data.parquet").to_pylist()
    assert gsm8k[0]["example_id"] == "0" and "\\n" not in "".join(r["rationale"] for r in gsm8k)

    data = {n: (i["dir"] / "data.parquet").read_bytes() for n, i in first.items()}
    gets = len(hub.requests)
    snapshot(mixture, tmp_path / "second-cache")  # downloaded and normalised again from scratch
    assert len(hub.requests) >= gets + 7
    second = infos(tmp_path / "second-cache")
    assert {n: (i["dir"] / "data.parquet").read_bytes() for n, i in second.items()} == data
    assert {n: i["sha256"] for n, i in second.items()} == {n: i["sha256"] for n, i in first.items()}
    assert "(cached)" in snapshot(mixture, tmp_path / "cache")


def test_niv2_sample_from_a_checkout_and_a_hub_mirror(
    shared_data: Path, hub: FakeHub, tmp_path: Path
) -> None:
    checkout = shared_data / "niv2"
    hub.add_dataset("mirror/natural-instructions", checkout)
    local = {n: {"kind": "niv2", "path": str(checkout / "tasks" / f"{n}.json")} for n in NIV2_TRAIN}
    mirrored = {
        f"{n}_hub": {"kind": "niv2", "repo_id": "mirror/natural-instructions", "task": n}
        for n in NIV2_TRAIN
    }
    snapshot(write_mixture(tmp_path / "m", {**local, **mirrored}), tmp_path / "cache")
    by_dir = {}
    for f in (tmp_path / "cache" / "snapshots").glob("*/snapshot.json"):
        info = json.loads(f.read_text())
        by_dir[f.parent.name] = info
    for name, count in NIV2_TRAIN.items():
        matching = [i for d, i in by_dir.items() if d.startswith(name)]
        assert len(matching) == 2, name  # one from the checkout, one from the mirror
        assert {i["rows"] for i in matching} == {count}
        assert len({i["sha256"] for i in matching}) == 1  # the same bytes either way
        # The repository's own rule (25 < instances <= 6500) flags the truncated sample file.
        expected = (
            [f"{name}.json: 20 instances: the repository expects more than 25 and at most 6500"]
            if count == 20
            else []
        )
        assert all(i["checks"] == expected for i in matching), name


def test_niv2_held_out_tasks_are_refused(shared_data: Path, tmp_path: Path) -> None:
    tasks = shared_data / "niv2" / "tasks"
    mixture = write_mixture(
        tmp_path,
        {
            "mmlu": {
                "kind": "niv2",
                "path": str(tasks / "task664_mmmlu_answer_generation_abstract_algebra.json"),
            },
            "excluded": {
                "kind": "niv2",
                "path": str(tasks / "task1169_xcopa_commonsense_cause_effect_ht.json"),
            },
        },
    )
    result = CliRunner().invoke(
        cli, ["snapshot", "--mixture", str(mixture), "--cache", str(tmp_path / "cache")]
    )
    assert result.exit_code == 1
    assert "2 source(s) failed" in result.output
    assert (
        "excluded: task1169_xcopa_commonsense_cause_effect_ht is in "
        "splits/default/excluded_tasks.txt" in result.output
    )
    assert "mmlu: task664_mmmlu_answer_generation_abstract_algebra is derived from MMLU" in (
        result.output
    )
