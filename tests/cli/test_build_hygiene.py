"""`flanmix build --dedup / --decontaminate / --decontam-action` through CliRunner: duplicates
and contaminated rows are dropped (or flagged) and counted, the evidence names the matched
n-gram, and bad `--decontaminate` specs are one-line errors before anything is built.

The mixture is tiny (one single-template family, zero-shot without options, `epoch: all`) so
every record renders to exactly its text and each build takes seconds.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow.dataset as pads
import pytest
from click.testing import CliRunner, Result
from conftest import write_jsonl

from flanmix.cli.main import cli
from flanmix.hygiene.ngrams import normal_words

ONE_TEMPLATE = """\
family: plain
description: The record's text as inputs, its label as targets.
templates:
  - id: plain_01
    input: "{{ text }}"
    target: "{{ label }}"
"""

MIXTURE = """\
name: hygiene
seed: 3
templates_dir: templates
epoch: all
collections:
  c1:
    template_types: {zs_noopt: 1}
    tasks:
      a: {templates: plain, source: {kind: jsonl, path: data/a.jsonl, id_field: id}}
      b: {templates: plain, source: {kind: jsonl, path: data/b.jsonl, id_field: id}}
"""

# 18 words; the eval set quotes its first 13 (one 13-gram shared, as the evidence must show).
PLANTED = (
    "Seven purple elephants quietly crossed the frozen river at dawn while the village "
    "musicians played ancient songs"
)
QUOTED = " ".join(PLANTED.split()[:13])
# 12 words shared with the eval set, one fewer than n: not contamination.
NEAR = "Orange lanterns floated above the harbour as fishermen mended their nets before sunrise"
NEAR_SHARED = " ".join(NEAR.split()[:12])


def records(prefix: str, n: int) -> list[dict[str, str]]:
    return [
        {"id": f"{prefix}{i}", "text": f"Record {i} of the training data", "label": "yes"}
        for i in range(n)
    ]


def task_a() -> list[dict[str, str]]:
    """10 distinct records, two near-copies of a0 and a1 (other ids, case and spacing), the
    planted passage and the near miss."""
    return [
        *records("a", 10),
        {"id": "copy0", "text": "RECORD 0 of   the training\tdata", "label": "Yes"},
        {"id": "copy1", "text": "  record 1 OF the training data ", "label": "yes "},
        {"id": "planted", "text": f"Summary: {PLANTED}.", "label": "yes"},
        {"id": "near", "text": f"Note that {NEAR}.", "label": "yes"},
    ]


def task_b() -> list[dict[str, str]]:
    """Three records whose text equals a's a0-a2 (a's ids too), and two of b's own."""
    return [
        *records("a", 3),
        {"id": "b-own-1", "text": "Something only task b says", "label": "no"},
        {"id": "b-own-2", "text": "Another thing only task b says", "label": "no"},
    ]


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture
def mixture(make_mixture: Callable[..., Path]) -> Path:
    return make_mixture(
        MIXTURE,
        data={"a.jsonl": task_a(), "b.jsonl": task_b()},
        templates={"plain": ONE_TEMPLATE},
    )


@pytest.fixture
def eval_file(tmp_path: Path) -> Path:
    """Held-out items: one quotes 13 words of PLANTED, one shares 12 words with NEAR."""
    return write_jsonl(
        tmp_path / "evals" / "heldout.jsonl",
        [
            {"qid": "q-unrelated", "question": "Which planet is the largest in the solar system?"},
            {"qid": "q-planted", "question": f"Finish the story: {QUOTED} ... what happened?"},
            {"qid": "q-near", "question": f"Where: {NEAR_SHARED} until the storm came back?"},
        ],
    )


def build(runner: CliRunner, mixture: Path, out: Path, *options: str) -> Result:
    result = runner.invoke(cli, ["build", "-m", str(mixture), "-o", str(out), *options])
    assert result.exit_code == 0, result.output
    return result


def read_rows(out: Path) -> list[dict[str, Any]]:
    return pads.dataset(out / "data", format="parquet").to_table().to_pylist()


def read_json(path: Path) -> Any:
    return json.loads(path.read_text())


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def leaf_stats(stats: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {leaf["leaf"]: leaf for leaf in stats["leaves"]}


def check_accounting(stats: dict[str, Any]) -> None:
    """Nothing lost silently: read + repeated = written + sum of drops, per leaf."""
    for leaf in stats["leaves"]:
        drops = sum(leaf["dropped"].values())
        assert leaf["available"] + leaf["repeated"] == leaf["written"] + drops, leaf


def normal(text: str) -> str:
    return " ".join(text.casefold().split())


# --- --dedup -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("scope", "duplicates"),
    # a: copy0 and copy1 repeat a0 and a1 (2); b's a0-a2 repeat a's across tasks (3 more).
    [("mixture", 5), ("task", 2)],
)
def test_dedup_drops_normalised_exact_duplicates(
    runner: CliRunner, mixture: Path, tmp_path: Path, scope: str, duplicates: int
) -> None:
    out = tmp_path / "out"
    result = build(runner, mixture, out, "--dedup", scope)
    assert f"duplicate {duplicates}" in result.output
    stats = read_json(out / "stats.json")
    assert stats["dropped"]["duplicate"] == duplicates
    leaves = leaf_stats(stats)
    # Which copy survives depends on the selection hash, so a pair across tasks may lose
    # either side; the counts within a scope do not.
    if scope == "task":
        assert leaves["a/zs_noopt"]["dropped"]["duplicate"] == 2
        assert "duplicate" not in leaves["b/zs_noopt"]["dropped"]
    else:
        per_leaf = [leaf["dropped"].get("duplicate", 0) for leaf in leaves.values()]
        assert sum(per_leaf) == duplicates
    check_accounting(stats)
    rows = read_rows(out)
    assert stats["written_rows"] == len(rows) == 14 + 5 - duplicates
    keys = [
        (row["task_name"] if scope == "task" else "", normal(row["inputs"]), normal(row["targets"]))
        for row in rows
    ]
    assert len(keys) == len(set(keys)), "two written rows share a normalised (inputs, targets)"
    assert read_json(out / "manifest.json")["hygiene"]["dedup"] == scope


def test_no_dedup_writes_every_copy(runner: CliRunner, mixture: Path, tmp_path: Path) -> None:
    build(runner, mixture, tmp_path / "out")
    stats = read_json(tmp_path / "out" / "stats.json")
    assert "duplicate" not in stats["dropped"]
    assert "decontamination" not in stats
    assert not (tmp_path / "out" / "decontamination.jsonl").exists()
    assert stats["written_rows"] == 19
    assert read_json(tmp_path / "out" / "manifest.json")["hygiene"] == {"dedup": "none"}


# --- --decontaminate -----------------------------------------------------------------------------


def test_decontaminate_drops_the_planted_row_with_evidence(
    runner: CliRunner, mixture: Path, eval_file: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    result = build(runner, mixture, out, "--decontaminate", str(eval_file))
    assert (
        "decontamination: 1 row(s) dropped for sharing n-grams with an eval set "
        f"(evidence in {out}/decontamination.jsonl)" in result.output
    )
    assert "contaminated 1" in result.output

    (evidence,) = read_jsonl(out / "decontamination.jsonl")  # the near miss is not there
    assert evidence["task"] == "a"
    assert evidence["template_type"] == "zs_noopt"
    assert evidence["example_id"] == "planted"
    assert evidence["eval_set"] == "heldout"  # named after the file
    assert evidence["eval_item"]  # an item of the eval file a person can look up
    assert evidence["action"] == "dropped"
    assert evidence["ngrams_matched"] == 1
    assert evidence["ngram"] == " ".join(normal_words(QUOTED))
    assert len(evidence["ngram"].split()) == 13

    stats = read_json(out / "stats.json")
    leaves = leaf_stats(stats)
    assert leaves["a/zs_noopt"]["dropped"] == {"contaminated": 1}
    assert leaves["b/zs_noopt"]["dropped"] == {}
    assert stats["dropped"] == {"contaminated": 1}
    assert stats["decontamination"] == {
        "action": "drop",
        "rows": 1,
        "by_task": {"a": {"heldout": 1}},
    }
    check_accounting(stats)

    ids = {(r["task_name"], r["example_id"]) for r in read_rows(out)}
    assert ("a", "planted") not in ids
    assert ("a", "near") in ids  # 12 shared words, one fewer than n
    assert len(ids) == 18

    manifest = read_json(out / "manifest.json")
    hygiene = manifest["hygiene"]["decontamination"]
    assert (hygiene["n"], hygiene["action"]) == (13, "drop")
    assert [s["name"] for s in hygiene["eval_sets"]] == ["heldout"]
    assert hygiene["eval_sets"][0]["items"] == 3


def test_decontam_action_flag_keeps_the_row_and_lists_it(
    runner: CliRunner,
    mixture: Path,
    eval_file: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(eval_file.parent)  # a relative path starts at the current folder
    out = tmp_path / "out"
    result = build(
        runner, mixture, out, "--decontaminate", eval_file.name, "--decontam-action", "flag"
    )
    assert "decontamination: 1 row(s) flagged for sharing n-grams" in result.output

    (evidence,) = read_jsonl(out / "decontamination.jsonl")
    assert (evidence["task"], evidence["example_id"]) == ("a", "planted")
    assert evidence["action"] == "flagged"
    assert evidence["ngram"] == " ".join(normal_words(QUOTED))

    stats = read_json(out / "stats.json")
    assert "contaminated" not in stats["dropped"]
    assert stats["decontamination"]["action"] == "flag"
    assert stats["decontamination"]["rows"] == 1
    rows = read_rows(out)
    assert len(rows) == 19
    planted = [r for r in rows if r["example_id"] == "planted"]
    assert [r["inputs"] for r in planted] == [f"Summary: {PLANTED}."]


def test_a_rebuild_in_the_same_process_uses_its_own_eval_sets(
    runner: CliRunner, mixture: Path, eval_file: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    build(runner, mixture, out, "--decontaminate", str(eval_file))
    clean = write_jsonl(
        tmp_path / "other" / "clean.jsonl",
        [{"question": "Nothing in this held-out question appears in any training record"}],
    )
    result = build(runner, mixture, out, "--overwrite", "--decontaminate", str(clean))
    assert "decontamination: 0 row(s) dropped" in result.output
    assert read_jsonl(out / "decontamination.jsonl") == []
    assert len(read_rows(out)) == 19


# --- refused specs -------------------------------------------------------------------------------


def refused(runner: CliRunner, mixture: Path, out: Path, *options: str) -> str:
    result = runner.invoke(cli, ["build", "-m", str(mixture), "-o", str(out), *options])
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    assert not out.exists(), "nothing is built for a refused option"
    return result.output


def test_a_missing_decontaminate_file(runner: CliRunner, mixture: Path, tmp_path: Path) -> None:
    missing = tmp_path / "evals" / "nope.jsonl"
    output = refused(runner, mixture, tmp_path / "out", "--decontaminate", str(missing))
    assert f"Error: --decontaminate {missing}: {missing} does not exist; check the path" in output


def test_a_decontaminate_folder(runner: CliRunner, mixture: Path, tmp_path: Path) -> None:
    folder = tmp_path / "evals.jsonl"
    folder.mkdir()
    output = refused(runner, mixture, tmp_path / "out", "--decontaminate", str(folder))
    assert f"{folder} is a folder, not a file" in output


@pytest.mark.parametrize(
    ("name", "shown"), [("eval.csv", ".csv"), ("eval.parquet.gz", ".parquet.gz")]
)
def test_an_unsupported_suffix(
    runner: CliRunner, mixture: Path, tmp_path: Path, name: str, shown: str
) -> None:
    path = tmp_path / name
    path.write_text("question\nWhat?\n")
    output = refused(runner, mixture, tmp_path / "out", "--decontaminate", str(path))
    assert f"--decontaminate {path}: unsupported file type '{shown}'" in output
    assert "give a .jsonl, .parquet, .tsv" in output


def test_an_unknown_registry_name_suggests_one(
    runner: CliRunner, mixture: Path, tmp_path: Path
) -> None:
    output = refused(runner, mixture, tmp_path / "out", "--decontaminate", "mmlv")
    assert "--decontaminate mmlv: no such eval set in the registry (did you mean 'mmlu'?)" in output


def test_a_name_clashing_with_a_mixture_eval_set_is_refused(
    runner: CliRunner, make_mixture: Callable[..., Path], eval_file: Path, tmp_path: Path
) -> None:
    text = MIXTURE + (
        "decontaminate:\n  - {name: heldout, source: {kind: jsonl, path: evals/heldout.jsonl}}\n"
    )
    path = make_mixture(
        text, data={"a.jsonl": task_a(), "b.jsonl": task_b()}, templates={"plain": ONE_TEMPLATE}
    )
    other = write_jsonl(tmp_path / "other" / "heldout.jsonl", [{"q": "a different set"}])
    output = refused(runner, path, tmp_path / "out", "--decontaminate", str(other))
    assert (
        f"--decontaminate {other}: the mixture already has an eval set named 'heldout'; "
        "leave it out of the command line or rename the file" in output
    )


def test_a_registry_name_already_in_the_mixture_is_refused(
    runner: CliRunner, make_mixture: Callable[..., Path], tmp_path: Path
) -> None:
    path = make_mixture(
        MIXTURE + "decontaminate: [mmlu]\n",
        data={"a.jsonl": task_a(), "b.jsonl": task_b()},
        templates={"plain": ONE_TEMPLATE},
    )
    output = refused(runner, path, tmp_path / "out", "--decontaminate", "mmlu")
    assert "--decontaminate mmlu: the mixture already has an eval set named 'mmlu'" in output
