"""Self-improvement end to end on Flan's GSM8K chain-of-thought file used as unlabeled
questions: prompts, a simulated sampler with controlled error rates, collect, a second round,
and a build that mixes the four training formats with the demo."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow.dataset as pads
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner
from conftest import SHARED

from flanmix.build import build
from flanmix.cli.main import cli
from flanmix.spec.load import load_mixture

QUESTIONS = 200  # GSM8K questions used, after the 4 exemplars


def run(*args: str) -> str:
    result = CliRunner().invoke(cli, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def wrong(answer: str, k: int) -> str:
    return str(int(answer.replace(",", "")) + k)


def completion(rationale: str, answer: str, variant: int) -> str:
    """A sampled path: the rationale, a variant-dependent aside, and a final answer written
    in one of several forms numbers must agree across."""
    forms = [answer, f"${answer}", f"{answer}.0"]
    return f"{rationale} Checking once more ({variant % 3}). The answer is {forms[variant % 3]}."


def simulate(request: dict[str, Any], truth: dict[str, tuple[str, str]], i: int) -> list[str]:
    """32 samples; the share of right answers depends on the question's group (i % 4):
    0: 24 right, 8 wrong -> kept, right (confidence .75);
    1: 10 right, 12 + 10 wrong two ways -> the wrong winner has .375: below the threshold;
    2: 6 right, 20 wrong one way, 6 without an answer -> kept, wrong (confidence .625);
    3: 16 right, 16 wrong -> a tie: nothing kept."""
    rationale, answer = truth[request["question_id"]]
    right = [completion(rationale, answer, k) for k in range(32)]
    bad = [completion(f"A slip: {rationale}", wrong(answer, 1), k) for k in range(32)]
    other = [completion(f"Another slip: {rationale}", wrong(answer, 2), k) for k in range(32)]
    silent = [f"{rationale} I am not sure." for _ in range(32)]
    group = i % 4
    if group == 0:
        return right[:24] + bad[:8]
    if group == 1:
        return right[:10] + bad[:12] + other[:10]
    if group == 2:
        return right[:6] + bad[:20] + silent[:6]
    return right[:16] + bad[:16]


@pytest.fixture(scope="module")
def rounds(shared_data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    base = tmp_path_factory.mktemp("lmsi")
    lines = (shared_data_dir / "flan_v2" / "cot_data" / "gsm8k_train.tsv").read_text().splitlines()
    (base / "exemplars.tsv").write_text("\n".join(lines[:4]) + "\n")
    (base / "questions.tsv").write_text("\n".join(lines[4 : 4 + QUESTIONS]) + "\n")
    # The questions' answers stay hidden from the prompts; the simulated sampler knows them.
    truth = {}
    for row, line in enumerate(lines[4 : 4 + QUESTIONS]):
        _, answer, rationale = line.split("\t")
        truth[str(row)] = (rationale, answer)
    run(
        "self-improve", "prompts", "--exemplars", str(base / "exemplars.tsv"), "--questions",
        str(base / "questions.tsv"), "--name", "gsm8k", "--out", str(base / "requests.jsonl"),
    )  # fmt: skip
    requests = [json.loads(x) for x in (base / "requests.jsonl").read_text().splitlines()]
    with open(base / "samples.jsonl", "w") as f:
        for i, request in enumerate(requests):
            samples = simulate(request, truth, i)
            f.write(json.dumps({"request_id": request["request_id"], "completions": samples}))
            f.write("\n")
    said = run(
        "self-improve", "collect", "--prompts", str(base / "requests.jsonl"), "--samples",
        str(base / "samples.jsonl"), "--out", str(base / "round1"),
    )  # fmt: skip
    return {"base": base, "requests": requests, "truth": truth, "said": said}


@pytest.fixture(scope="module")
def shared_data_dir() -> Path:
    path = SHARED / "data"
    if not path.is_dir():
        pytest.skip(f"{path} is absent: these tests need the shared Flan data beside the repo")
    return path


def test_prompts_are_few_shot_chain_of_thought_without_the_answer(rounds: dict) -> None:
    requests = rounds["requests"]
    assert len(requests) == QUESTIONS
    first = requests[0]
    assert first["request_id"] == "gsm8k/0" and first["n"] == 32 and first["temperature"] == 0.7
    assert first["prompt"].count("\nA: ") == 4 and first["prompt"].endswith(
        f"Q: {first['question']}\nA:"
    )
    rationale, _ = rounds["truth"]["0"]
    assert rationale not in first["prompt"]


def test_collect_keeps_the_confident_majorities_at_the_expected_rates(rounds: dict) -> None:
    out = rounds["base"] / "round1"
    stats = json.loads((out / "self_improve.json").read_text())
    quarter = QUESTIONS // 4
    assert stats["questions"] == QUESTIONS and stats["samples"] == 32 * QUESTIONS
    assert stats["kept_questions"] == 2 * quarter
    assert stats["dropped_questions"] == {"below_threshold": quarter, "tie": quarter}
    assert stats["extraction_failures"] == 6 * quarter
    assert stats["mean_confidence"] == pytest.approx((0.75 + 0.625) / 2)
    rows = pq.read_table(out / "data.parquet").to_pylist()
    # Three distinct paths per kept question (the asides differ), once each.
    assert len(rows) == stats["paths_kept"] == 3 * 2 * quarter
    truth = rounds["truth"]
    right = {r["question_id"] for r in rows if r["answer"] == truth[r["question_id"]][1]}
    kept = {r["question_id"] for r in rows}
    assert right == {q for q in kept if int(q) % 4 == 0} and len(right) == quarter
    assert all(int(q) % 4 == 2 for q in kept - right)  # the confidently wrong ones
    assert all("The answer is" not in r["rationale"] for r in rows)
    questions = pq.read_table(out / "questions.parquet").to_pylist()
    assert len(questions) == 2 * quarter
    assert "kept 100 of 200 question(s)" in rounds["said"]


MIXTURE = """\
name: demo+self-improve
seed: 1
epoch: first_exhausted
include: {{demo: 0.5}}
collections:
  self_improve:
    weight: 0.5
    template_types: {{zs_noopt: 1, fs_noopt: 1}}
    rate: {{rule: fixed, value: 1}}  # the four formats equally
    fewshot: {{formats: [x_shot], shots: 2, candidates: 12, group_field: question_id}}
    tasks:
      gsm8k_self_improve_cot:
        templates: self_improve_cot
        source: {{kind: parquet, path: {out}/data.parquet, id_field: example_id}}
      gsm8k_self_improve_direct:
        templates: self_improve_direct
        source: {{kind: parquet, path: {out}/questions.parquet, id_field: example_id}}
"""


def test_a_build_mixes_the_four_formats_as_configured(rounds: dict, tmp_path: Path) -> None:
    path = tmp_path / "mix.yaml"
    path.write_text(MIXTURE.format(out=rounds["base"] / "round1"))
    result = build(load_mixture(str(path)), tmp_path / "out")
    leaves = {leaf["leaf"]: leaf for leaf in result.stats["leaves"]}
    four = [
        f"gsm8k_self_improve_{fmt}/{tt}"
        for fmt in ("cot", "direct")
        for tt in ("zs_noopt", "fs_noopt+x_shot")
    ]
    assert all(leaves[name]["written"] > 0 for name in four), leaves.keys()
    quotas = [leaves[name]["quota"] for name in four]
    assert max(quotas) - min(quotas) <= 1, quotas  # balanced as configured
    for leaf in leaves.values():  # balanced as planned
        assert leaf["written"] == leaf["quota"] or leaf["dropped"].get("no_exemplars"), leaf
    (collected,) = result.stats["self_improve"].values()  # both tasks read one collect folder
    assert collected["kept_questions"] == 100
    assert list(result.stats["self_improve"]) == [
        "gsm8k_self_improve_cot, gsm8k_self_improve_direct"
    ]
    rows = pads.dataset(tmp_path / "out" / "data").to_table().to_pylist()
    fewshot = [r for r in rows if r["task_name"] == "gsm8k_self_improve_cot" and r["exemplar_ids"]]
    assert fewshot
    for r in fewshot:  # never another path to the query's own question as an exemplar
        own = r["example_id"].split("#")[0]
        assert all(e.split("#")[0] != own for e in r["exemplar_ids"])
        assert r["targets"].endswith(".") and "The answer is" in r["targets"]
    direct = [r for r in rows if r["task_name"] == "gsm8k_self_improve_direct"]
    assert direct and all("The answer is" not in r["targets"] for r in direct)
    card = (tmp_path / "out" / "README.md").read_text()
    assert "Self-improvement" in card


def test_a_second_round_takes_the_first_rounds_paths_as_exemplars(rounds: dict) -> None:
    base = rounds["base"]
    run(
        "self-improve", "prompts", "--exemplars", str(base / "round1" / "data.parquet"),
        "--questions", str(base / "questions.tsv"), "--shots", "3", "--out",
        str(base / "round2.jsonl"),
    )  # fmt: skip
    requests = [json.loads(x) for x in (base / "round2.jsonl").read_text().splitlines()]
    assert len(requests) == QUESTIONS
    prompt = requests[0]["prompt"]
    assert prompt.count("The answer is") == 3
    shown = [b.split("\n")[0] for b in prompt.split("\n\n") if b.startswith("Q: ")]
    assert len(set(shown[:-1])) == 3  # three different questions, not three paths of one


def test_the_bundled_flan2022_self_improve_mixture_reads_a_collect_output(
    rounds: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FLANMIX_SELF_IMPROVE", str(rounds["base"] / "round1"))
    mixture = load_mixture("flan2022+self-improve")
    own = {leaf for leaf in mixture.leaves() if leaf[0].startswith("self_improve_")}
    assert own == {
        (task, tt)
        for task in ("self_improve_cot", "self_improve_direct")
        for tt in ("zs_noopt", "fs_noopt+x_shot")
    }
    assert mixture.tasks["self_improve_cot"].source.path == "data.parquet"
    assert (
        mixture.tasks["self_improve_cot"]
        .source_pattern()
        .startswith(str(rounds["base"] / "round1"))
    )
    assert len(mixture.tasks) > 900  # Flan 2022 itself comes along


def test_a_group_field_the_source_lacks_is_refused(rounds: dict, tmp_path: Path) -> None:
    from flanmix.checks import check_mixture
    from flanmix.errors import SpecError

    path = tmp_path / "mix.yaml"
    path.write_text(
        MIXTURE.format(out=rounds["base"] / "round1").replace(
            "group_field: question_id", "group_field: question_key"
        )
    )
    with pytest.raises(SpecError, match=r"group_field: question_key. is not a field") as e:
        check_mixture(load_mixture(str(path)))
    assert "did you mean" in str(e.value) and "question_id" in str(e.value)
