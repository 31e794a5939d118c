"""`flanmix self-improve prompts|questions|collect` through click, on small files in tmp."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from flanmix.cli.main import cli
from flanmix.selfimprove import collect as collect_module

EXEMPLARS = [
    {"question": "What is 1+1?", "rationale": "One plus one is two.", "answer": "2"},
    {"question": "What is 2+3?", "rationale": "Two plus three is five.", "answer": "5"},
    {"question": "What is 3*3?", "rationale": "Three threes are nine.", "answer": "9"},
    {"question": "What is 10-4?", "rationale": "Ten minus four is six.", "answer": "6"},
    {"question": "What is 8/2?", "rationale": "Eight halved is four.", "answer": "4"},
    {"question": "What is 7+0?", "rationale": "Adding zero keeps seven.", "answer": "7"},
]


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.output


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def one_line(out: str) -> str:
    """The text with runs of whitespace as one space, so comparisons ignore line breaks."""
    return " ".join(out.split())


# --- prompts --------------------------------------------------------------------------------


def test_prompts_for_questions(tmp_path: Path) -> None:
    exemplars = write_jsonl(tmp_path / "ex.jsonl", EXEMPLARS[:3])
    questions = write_jsonl(
        tmp_path / "gsm.jsonl",
        [{"qid": "a", "question": "What is 4+4?"}, {"qid": "b", "question": "what is  1+1? "}],
    )
    out = tmp_path / "requests.jsonl"
    code, text = run(
        "self-improve", "prompts", "--exemplars", str(exemplars), "--questions", str(questions),
        "--id-field", "qid", "--shots", "2", "--samples", "8", "--temperature", "0.5",
        "--max-tokens", "64", "--out", str(out),
    )  # fmt: skip
    assert code == 0, text
    assert text == f"wrote 2 request(s) to {out}\n"
    rows = read_jsonl(out)
    assert rows[0] == {
        "request_id": "gsm/a",
        "question_id": "a",
        "question": "What is 4+4?",
        "prompt": "Q: What is 1+1?\nA: One plus one is two. The answer is 2.\n\n"
        "Q: What is 2+3?\nA: Two plus three is five. The answer is 5.\n\n"
        "Q: What is 4+4?\nA:",
        "n": 8,
        "temperature": 0.5,
        "max_tokens": 64,
        "stop": ["\n\nQ:"],
    }
    # the second question is the first exemplar (up to case and spaces): not its own exemplar
    assert rows[1]["request_id"] == "gsm/b"
    assert rows[1]["prompt"] == (
        "Q: What is 2+3?\nA: Two plus three is five. The answer is 5.\n\n"
        "Q: What is 3*3?\nA: Three threes are nine. The answer is 9.\n\n"
        "Q: what is  1+1? \nA:"
    )
    assert "One plus one" not in rows[1]["prompt"]


def test_prompts_defaults_parquet_out_and_row_ids(tmp_path: Path) -> None:
    exemplars = write_jsonl(tmp_path / "ex.jsonl", EXEMPLARS)
    questions = write_jsonl(
        tmp_path / "unlabeled.jsonl", [{"question": f"q{i}?"} for i in range(3)]
    )
    out = tmp_path / "requests.parquet"
    code, text = run(
        "self-improve", "prompts", "--exemplars", str(exemplars), "--questions", str(questions),
        "--out", str(out),
    )  # fmt: skip
    assert code == 0, text
    rows = pq.read_table(out).to_pylist()
    assert [r["request_id"] for r in rows] == ["unlabeled/0", "unlabeled/1", "unlabeled/2"]
    assert {(r["n"], r["temperature"], r["max_tokens"]) for r in rows} == {(32, 0.7, 512)}
    assert all(r["prompt"].count("Q: ") == 4 + 1 for r in rows)  # default --shots 4


def test_prompts_with_more_shots_than_exemplars_uses_them_all(tmp_path: Path) -> None:
    exemplars = write_jsonl(tmp_path / "ex.jsonl", EXEMPLARS[:2])
    questions = write_jsonl(tmp_path / "q.jsonl", [{"question": "What is 4+4?"}])
    out = tmp_path / "r.jsonl"
    code, text = run(
        "self-improve", "prompts", "--exemplars", str(exemplars), "--questions", str(questions),
        "--shots", "5", "--name", "round1", "--out", str(out),
    )  # fmt: skip
    assert code == 0, text
    (row,) = read_jsonl(out)
    assert row["request_id"] == "round1/0" and row["prompt"].count("Q: ") == 3


def test_prompts_needs_questions_in_answers_mode(tmp_path: Path) -> None:
    exemplars = write_jsonl(tmp_path / "ex.jsonl", EXEMPLARS)
    out = tmp_path / "r.jsonl"
    code, text = run("self-improve", "prompts", "--exemplars", str(exemplars), "-o", str(out))
    assert code == 2 and "--mode answers needs --questions FILE" in text
    assert not out.exists()


def test_prompts_names_a_missing_field(tmp_path: Path) -> None:
    exemplars = write_jsonl(tmp_path / "ex.jsonl", EXEMPLARS)
    questions = write_jsonl(tmp_path / "q.jsonl", [{"text": "What is 4+4?"}])
    code, text = run(
        "self-improve", "prompts", "--exemplars", str(exemplars), "--questions", str(questions),
        "-o", str(tmp_path / "r.jsonl"),
    )  # fmt: skip
    assert code == 1
    assert f"Error: {questions}: no field 'question' (fields: text); name the right one" in text


def test_prompts_refuses_exemplars_without_rationales(tmp_path: Path) -> None:
    exemplars = write_jsonl(tmp_path / "ex.jsonl", [{"question": "q", "answer": "1"}])
    code, text = run(
        "self-improve", "prompts", "--exemplars", str(exemplars), "--mode", "new-questions",
        "-o", str(tmp_path / "r.jsonl"),
    )  # fmt: skip
    assert code == 1 and f"{exemplars}: no field(s) rationale (fields: answer, question)" in text


def new_question_prompts(tmp_path: Path, seed: int, name: str) -> list[dict[str, Any]]:
    exemplars = tmp_path / "ex.jsonl"
    if not exemplars.exists():
        write_jsonl(exemplars, EXEMPLARS)
    out = tmp_path / name
    code, text = run(
        "self-improve", "prompts", "--exemplars", str(exemplars), "--mode", "new-questions",
        "--count", "5", "--shots", "2", "--seed", str(seed), "--out", str(out),
    )  # fmt: skip
    assert code == 0, text
    assert text == f"wrote 5 request(s) to {out}\n"
    return read_jsonl(out)


def test_new_question_prompts(tmp_path: Path) -> None:
    rows = new_question_prompts(tmp_path, 0, "a.jsonl")
    ids = [r["request_id"] for r in rows]
    assert ids == [f"new/new-{i:06d}" for i in range(5)] and len(set(ids)) == 5
    known = {e["question"] for e in EXEMPLARS}
    for row in rows:
        lines = row["prompt"].split("\n")
        assert lines[0].startswith("Here are some questions of one kind.")
        assert lines[-1] == "Question:"
        shown = [ln.removeprefix("Question: ") for ln in lines[2:-1]]
        assert len(shown) == len(set(shown)) == 2 and set(shown) <= known
        assert row["question"] == "" and row["n"] == 32 and row["temperature"] == 0.7
        assert row["stop"] == ["\nQuestion:", "\n\n"]
    assert len({r["prompt"] for r in rows}) > 1  # a different few per request


def test_new_question_prompts_are_seeded(tmp_path: Path) -> None:
    first = new_question_prompts(tmp_path, 0, "a.jsonl")
    again = new_question_prompts(tmp_path, 0, "b.jsonl")
    other = new_question_prompts(tmp_path, 1, "c.jsonl")
    assert (tmp_path / "a.jsonl").read_bytes() == (tmp_path / "b.jsonl").read_bytes()
    assert first == again
    assert [r["prompt"] for r in other] != [r["prompt"] for r in first]
    assert [r["request_id"] for r in other] == [r["request_id"] for r in first]


# --- questions ------------------------------------------------------------------------------


def test_questions_turns_samples_into_a_questions_file(tmp_path: Path) -> None:
    exemplars = write_jsonl(tmp_path / "ex.jsonl", EXEMPLARS)
    requests = new_question_prompts(tmp_path, 0, "requests.jsonl")
    samples = write_jsonl(
        tmp_path / "samples.jsonl",
        [
            {
                "request_id": requests[0]["request_id"],
                "completions": [
                    " What is 12+30?\nQuestion: and another",
                    "\n  Question: what is 12+30? ",  # a duplicate up to case and spaces
                    "WHAT IS 1+1?",  # an exemplar's own question
                ],
            },
            {"request_id": requests[1]["request_id"], "completion": "   \n"},
            {
                "request_id": requests[1]["request_id"],
                "completion": "How many legs do 3 cats have?",
            },
        ],
    )
    out = tmp_path / "new.jsonl"
    code, text = run(
        "self-improve", "questions", "--prompts", str(tmp_path / "requests.jsonl"),
        "--samples", str(samples), "--exemplars", str(exemplars), "--out", str(out),
    )  # fmt: skip
    assert code == 0, text
    assert text == (
        f"wrote 2 new question(s) to {out}; "
        "dropped: {'empty': 1, 'duplicate': 1, 'copies_an_exemplar': 1}\n"
    )
    assert read_jsonl(out) == [
        {"id": "q000000", "question": "What is 12+30?"},
        {"id": "q000001", "question": "How many legs do 3 cats have?"},
    ]
    # the loop goes on: the new questions are a questions file for `prompts`
    requests_out = tmp_path / "round2.jsonl"
    code, text = run(
        "self-improve", "prompts", "--exemplars", str(exemplars), "--questions", str(out),
        "--id-field", "id", "--out", str(requests_out),
    )  # fmt: skip
    assert code == 0, text
    assert [r["request_id"] for r in read_jsonl(requests_out)] == ["new/q000000", "new/q000001"]


def test_questions_refuses_samples_of_other_prompts(tmp_path: Path) -> None:
    exemplars = write_jsonl(tmp_path / "ex.jsonl", EXEMPLARS)
    new_question_prompts(tmp_path, 0, "requests.jsonl")
    samples = write_jsonl(tmp_path / "s.jsonl", [{"request_id": "gsm/1", "completion": "Q?"}])
    out = tmp_path / "new.jsonl"
    code, text = run(
        "self-improve", "questions", "--prompts", str(tmp_path / "requests.jsonl"),
        "--samples", str(samples), "--exemplars", str(exemplars), "--out", str(out),
    )  # fmt: skip
    assert code == 1 and "request ids that no prompt has (e.g. gsm/1)" in text
    assert not out.exists()


# --- collect --------------------------------------------------------------------------------


def requests_file(tmp_path: Path, count: int = 3, name: str = "prompts.jsonl") -> Path:
    rows = [
        {"request_id": f"gsm/{i}", "question_id": str(i), "question": f"What is {i}+{i}?"}
        for i in range(count)
    ]
    return write_jsonl(tmp_path / name, rows)


def collect(tmp_path: Path, prompts: Path, samples: Path, *extra: str) -> tuple[int, str, Path]:
    out = tmp_path / "collected"
    code, text = run(
        "self-improve", "collect", "--prompts", str(prompts), "--samples", str(samples),
        "--out", str(out), *extra,
    )  # fmt: skip
    return code, text, out


def nothing_written(out: Path) -> bool:
    return not out.exists() and not out.with_name(f".{out.name}.partial").exists()


def test_collect_writes_the_kept_paths_and_the_counts(tmp_path: Path) -> None:
    prompts = requests_file(tmp_path)
    samples = write_jsonl(
        tmp_path / "samples.jsonl",
        [
            {
                "request_id": "gsm/0",
                "completions": [
                    "Zero and zero. The answer is 0.",
                    "Nothing plus nothing. The answer is 0.0.",
                    "Hmm. The answer is 1.",
                    "no idea",
                ],
            },
            {"request_id": "gsm/1", "completions": ["a. The answer is 2.", "b. The answer is 3."]},
            {"request_id": "gsm/2", "completions": []},
        ],
    )
    code, text, out = collect(tmp_path, prompts, samples)
    assert code == 0, text
    assert text == (
        "kept 1 of 3 question(s), 2 path(s), mean confidence 0.50; "
        "1 sample(s) without an answer; dropped: {'no_samples': 1, 'tie': 1} -> "
        f"{out}\n"
    )
    assert sorted(p.name for p in out.iterdir()) == [
        "data.parquet",
        "questions.parquet",
        "self_improve.json",
    ]
    assert not (tmp_path / ".collected.partial").exists()
    data = pq.read_table(out / "data.parquet").to_pylist()
    assert data == [
        {
            "example_id": "gsm/0#0",
            "request_id": "gsm/0",
            "question_id": "0",
            "question": "What is 0+0?",
            "rationale": "Zero and zero.",
            "answer": "0",
            "confidence": 0.5,
            "samples": 4,
        },
        {
            "example_id": "gsm/0#1",
            "request_id": "gsm/0",
            "question_id": "0",
            "question": "What is 0+0?",
            "rationale": "Nothing plus nothing.",
            "answer": "0",
            "confidence": 0.5,
            "samples": 4,
        },
    ]
    assert pq.read_table(out / "questions.parquet").to_pylist() == data[:1]
    stats = json.loads((out / "self_improve.json").read_text())
    assert {k: stats[k] for k in list(stats)[:8]} == {
        "questions": 3,
        "questions_sampled": 2,
        "samples": 6,
        "extraction_failures": 1,
        "kept_questions": 1,
        "paths_kept": 2,
        "mean_confidence": 0.5,
        "dropped_questions": {"no_samples": 1, "tie": 1},
    }
    assert (stats["answer_kind"], stats["threshold"], stats["max_paths"]) == ("number", 0.5, None)


def test_collect_options_reach_the_vote(tmp_path: Path) -> None:
    prompts = requests_file(tmp_path, 1)
    samples = write_jsonl(
        tmp_path / "s.jsonl",
        [
            {
                "request_id": "gsm/0",
                "completions": ["x\n#### (B)", "y\n#### b", "z\n#### B.", "w\n#### A"],
            }
        ],
    )
    code, text, out = collect(
        tmp_path, prompts, samples, "--answer-pattern", r"####\s*(.+)$", "--answer-kind",
        "choice", "--threshold", "0.75", "--max-paths", "2",
    )  # fmt: skip
    assert code == 0, text
    rows = pq.read_table(out / "data.parquet").to_pylist()
    assert [(r["rationale"], r["answer"]) for r in rows] == [("x", "(B)"), ("y", "(B)")]
    stats = json.loads((out / "self_improve.json").read_text())
    assert (stats["answer_kind"], stats["threshold"], stats["max_paths"]) == ("choice", 0.75, 2)


def test_collect_per_sample_rows_add_up(tmp_path: Path) -> None:
    prompts = requests_file(tmp_path, 2)
    samples = write_jsonl(
        tmp_path / "s.jsonl",
        [
            {"request_id": "gsm/1", "completion": "one. The answer is 2."},
            {"request_id": "gsm/0", "completion": "zero. The answer is 0."},
            {"request_id": "gsm/1", "completion": "two. The answer is 2."},
            {"request_id": "gsm/1", "completions": ["three. The answer is 3."]},
        ],
    )
    code, text, out = collect(tmp_path, prompts, samples, "--threshold", "0.6")
    assert code == 0, text
    rows = pq.read_table(out / "data.parquet").to_pylist()
    assert [(r["example_id"], r["rationale"], r["samples"]) for r in rows] == [
        ("gsm/0#0", "zero.", 1),
        ("gsm/1#0", "one.", 3),
        ("gsm/1#1", "two.", 3),
    ]
    assert rows[1]["confidence"] == pytest.approx(2 / 3)
    assert json.loads((out / "self_improve.json").read_text())["samples"] == 4


def test_collect_reads_parquet_samples(tmp_path: Path) -> None:
    prompts = requests_file(tmp_path, 2)
    samples = tmp_path / "samples.parquet"
    table = pa.table(
        {
            "request_id": ["gsm/0", "gsm/1"],
            "completions": [
                ["a. The answer is 0.", "b. The answer is 0."],
                ["c. The answer is 9."],
            ],
        }
    )
    pq.write_table(table, samples)
    code, text, out = collect(tmp_path, prompts, samples)
    assert code == 0, text
    assert "kept 2 of 2 question(s), 3 path(s), mean confidence 1.00" in text
    assert pq.read_table(out / "data.parquet").num_rows == 3
    per_sample = tmp_path / "per_sample.parquet"
    pq.write_table(
        pa.table({"request_id": ["gsm/0", "gsm/0"], "completion": ["a. The answer is 5.", "x"]}),
        per_sample,
    )
    code, text, out = collect(tmp_path, prompts, per_sample, "--overwrite")
    assert code == 0, text
    assert text.startswith("kept 1 of 2 question(s), 1 path(s), mean confidence 0.50; ")
    assert "1 sample(s) without an answer; dropped: {'no_samples': 1}" in text
    rows = pq.read_table(out / "data.parquet").to_pylist()
    assert [(r["rationale"], r["answer"], r["samples"]) for r in rows] == [("a.", "5", 2)]


def test_collect_refuses_unknown_request_ids(tmp_path: Path) -> None:
    prompts = requests_file(tmp_path, 2)
    samples = write_jsonl(
        tmp_path / "s.jsonl",
        [
            {"request_id": "gsm/0", "completions": ["a. The answer is 0."]},
            {"request_id": "other/7", "completions": ["b. The answer is 1."]},
            {"request_id": "other/8", "completion": "c. The answer is 1."},
        ],
    )
    code, text, out = collect(tmp_path, prompts, samples)
    assert code == 1
    assert one_line(text) == one_line(
        f"Error: samples {samples}: 2 row(s) have request ids that no prompt has "
        "(e.g. other/7, other/8); pass the prompts file these samples answer\n"
        "(run with --debug for the traceback)"
    )
    assert nothing_written(out)


def test_collect_refuses_duplicate_request_ids(tmp_path: Path) -> None:
    prompts = write_jsonl(
        tmp_path / "prompts.jsonl",
        [{"request_id": "gsm/0"}, {"request_id": "gsm/1"}, {"request_id": "gsm/0"}],
    )
    samples = write_jsonl(tmp_path / "s.jsonl", [{"request_id": "gsm/0", "completions": []}])
    code, text, out = collect(tmp_path, prompts, samples)
    assert code == 1
    assert (
        f"Error: prompts {prompts}, row 3: request id 'gsm/0' repeats an earlier row; "
        "request ids must be unique (write the prompts again)"
    ) in text
    assert nothing_written(out)


def test_collect_refuses_a_prompt_without_request_id(tmp_path: Path) -> None:
    prompts = write_jsonl(tmp_path / "prompts.jsonl", [{"request_id": "gsm/0"}, {"id": "x"}])
    samples = write_jsonl(tmp_path / "s.jsonl", [])
    code, text, out = collect(tmp_path, prompts, samples)
    assert code == 1 and f"Error: prompts {prompts}, row 2: no `request_id`" in text
    assert nothing_written(out)


@pytest.mark.parametrize(
    ("row", "message"),
    [
        (
            {"request_id": "gsm/0", "text": "The answer is 1."},
            "give `completions` (a list of strings) or `completion` (a string)",
        ),
        (
            {"request_id": "gsm/0", "completion": ["The answer is 1."]},
            "give `completions` (a list of strings) or `completion` (a string)",
        ),
        (
            {"request_id": "gsm/0", "completions": "The answer is 1."},
            "`completions` is not a list of strings",
        ),
        (
            {"request_id": "gsm/0", "completions": ["The answer is 1.", 2]},
            "`completions` is not a list of strings",
        ),
    ],
)
def test_collect_refuses_a_sample_row_without_completions(
    tmp_path: Path, row: dict[str, Any], message: str
) -> None:
    prompts = requests_file(tmp_path, 2)
    ok = {"request_id": "gsm/1", "completions": ["a. The answer is 2."]}
    samples = write_jsonl(tmp_path / "s.jsonl", [ok, row])
    code, text, out = collect(tmp_path, prompts, samples)
    assert code == 1
    assert f"Error: samples {samples}, row 2: {message}" in text
    assert nothing_written(out)


def test_collect_names_the_line_of_invalid_json(tmp_path: Path) -> None:
    prompts = requests_file(tmp_path, 2)
    samples = tmp_path / "s.jsonl"
    samples.write_text(
        json.dumps({"request_id": "gsm/0", "completions": ["a. The answer is 0."]})
        + "\n\n"
        + '{"request_id": "gsm/1", "completions": [\n'
    )
    code, text, out = collect(tmp_path, prompts, samples)
    assert code == 1
    assert f"Error: samples {samples}, line 3: not JSON (" in text
    assert nothing_written(out)


def test_collect_names_the_line_of_a_non_object(tmp_path: Path) -> None:
    prompts = requests_file(tmp_path, 1)
    samples = tmp_path / "s.jsonl"
    samples.write_text('["gsm/0", "The answer is 1."]\n')
    code, text, out = collect(tmp_path, prompts, samples)
    assert code == 1 and f"Error: samples {samples}, line 1: expected an object" in text
    assert nothing_written(out)


def test_collect_counts_empty_sample_lists_and_unsampled_prompts(tmp_path: Path) -> None:
    prompts = requests_file(tmp_path, 3)
    samples = write_jsonl(
        tmp_path / "s.jsonl",
        [
            {"request_id": "gsm/0", "completions": []},
            {"request_id": "gsm/1", "completions": ["ok. The answer is 2."]},
        ],
    )  # gsm/2 has no row at all
    code, text, out = collect(tmp_path, prompts, samples)
    assert code == 0, text
    assert "kept 1 of 3 question(s), 1 path(s)" in text and "{'no_samples': 2}" in text
    stats = json.loads((out / "self_improve.json").read_text())
    assert stats["questions_sampled"] == 1 and stats["dropped_questions"] == {"no_samples": 2}


def test_collect_with_nothing_kept_writes_empty_tables(tmp_path: Path) -> None:
    prompts = requests_file(tmp_path, 1)
    samples = write_jsonl(tmp_path / "s.jsonl", [{"request_id": "gsm/0", "completions": ["?"]}])
    code, text, out = collect(tmp_path, prompts, samples)
    assert code == 0, text
    assert "kept 0 of 1 question(s), 0 path(s), mean confidence 0.00" in text
    table = pq.read_table(out / "data.parquet")
    assert table.num_rows == 0 and "rationale" in table.column_names


@pytest.mark.parametrize("threshold", ["1.5", "-0.1"])
def test_collect_refuses_a_threshold_outside_0_1(tmp_path: Path, threshold: str) -> None:
    prompts = requests_file(tmp_path, 1)
    samples = write_jsonl(tmp_path / "s.jsonl", [])
    code, text, out = collect(tmp_path, prompts, samples, "--threshold", threshold)
    assert code == 1
    assert f"Error: --threshold must be between 0 and 1, got {float(threshold)}" in text
    assert nothing_written(out)


@pytest.mark.parametrize("threshold", ["0", "1"])
def test_collect_accepts_the_threshold_bounds(tmp_path: Path, threshold: str) -> None:
    prompts = requests_file(tmp_path, 1)
    samples = write_jsonl(
        tmp_path / "s.jsonl", [{"request_id": "gsm/0", "completions": ["a. The answer is 0."]}]
    )
    code, text, _ = collect(tmp_path, prompts, samples, "--threshold", threshold)
    assert code == 0 and "kept 1 of 1 question(s)" in text


@pytest.mark.parametrize(
    ("pattern", "message"),
    [
        (r"(a)(b)", "has 2 groups; use one group around the answer"),
        (r"answer is (", "is not a valid regex"),
    ],
)
def test_collect_refuses_a_bad_answer_pattern(tmp_path: Path, pattern: str, message: str) -> None:
    prompts = requests_file(tmp_path, 1)
    samples = write_jsonl(tmp_path / "s.jsonl", [])
    code, text, out = collect(tmp_path, prompts, samples, "--answer-pattern", pattern)
    assert code == 1 and f"Error: the answer pattern {pattern!r} " in text and message in text
    assert nothing_written(out)


def test_collect_does_not_replace_an_existing_out_without_overwrite(tmp_path: Path) -> None:
    prompts = requests_file(tmp_path, 1)
    samples = write_jsonl(
        tmp_path / "s.jsonl", [{"request_id": "gsm/0", "completions": ["a. The answer is 0."]}]
    )
    out = tmp_path / "collected"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    code, text, _ = collect(tmp_path, prompts, samples)
    assert code == 1
    assert f"Error: {out} exists; pass --overwrite to replace it" in text
    assert [p.name for p in out.iterdir()] == ["keep.txt"]
    assert (out / "keep.txt").read_text() == "mine"
    assert not (tmp_path / ".collected.partial").exists()
    code, text, _ = collect(tmp_path, prompts, samples, "--overwrite")
    assert code == 0, text
    assert sorted(p.name for p in out.iterdir()) == [
        "data.parquet",
        "questions.parquet",
        "self_improve.json",
    ]
    assert not (tmp_path / ".collected.partial").exists()


def test_a_failed_overwrite_keeps_the_old_output(tmp_path: Path) -> None:
    prompts = requests_file(tmp_path, 1)
    good = write_jsonl(
        tmp_path / "s.jsonl", [{"request_id": "gsm/0", "completions": ["a. The answer is 0."]}]
    )
    code, text, out = collect(tmp_path, prompts, good)
    assert code == 0, text
    before = (out / "data.parquet").read_bytes()
    bad = write_jsonl(tmp_path / "bad.jsonl", [{"request_id": "nope/1", "completion": "x"}])
    code, text, _ = collect(tmp_path, prompts, bad, "--overwrite")
    assert code == 1 and "no prompt has (e.g. nope/1)" in text
    assert (out / "data.parquet").read_bytes() == before


def test_a_failure_while_writing_leaves_no_half_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    prompts = requests_file(tmp_path, 1)
    samples = write_jsonl(
        tmp_path / "s.jsonl", [{"request_id": "gsm/0", "completions": ["a. The answer is 0."]}]
    )
    calls: list[Path] = []
    real = pq.write_table

    def write_table(table: pa.Table, where: Any, **kwargs: Any) -> None:
        calls.append(Path(where))
        if len(calls) == 2:  # data.parquet is written, questions.parquet fails
            raise OSError(28, "No space left on device")
        real(table, where, **kwargs)

    monkeypatch.setattr(collect_module.pq, "write_table", write_table)
    code, _, out = collect(tmp_path, prompts, samples)
    assert code == 1 and len(calls) == 2
    assert not out.exists()
    assert not (tmp_path / ".collected.partial").exists()


# --- after review ---------------------------------------------------------------------------


def test_prompts_refuses_a_repeated_question_id(tmp_path: Path) -> None:
    exemplars = write_jsonl(tmp_path / "ex.jsonl", EXEMPLARS[:2])
    questions = write_jsonl(
        tmp_path / "q.jsonl", [{"qid": "a", "question": "1+1?"}, {"qid": "a", "question": "2+2?"}]
    )
    code, text = run(
        "self-improve", "prompts", "--exemplars", str(exemplars), "--questions", str(questions),
        "--id-field", "qid", "--out", str(tmp_path / "r.jsonl"),
    )  # fmt: skip
    assert code == 1 and "question id 'a' repeats" in one_line(text)
    assert not (tmp_path / "r.jsonl").exists()


def test_collect_counts_null_samples_and_refuses_a_file_as_out(tmp_path: Path) -> None:
    prompts = write_jsonl(tmp_path / "p.jsonl", [{"request_id": "r1", "question": "1+1?"}])
    samples = write_jsonl(
        tmp_path / "s.jsonl",
        [{"request_id": "r1", "completions": ["1 + 1 = 2. The answer is 2.", None]}],
    )
    code, text = run(
        "self-improve", "collect", "--prompts", str(prompts), "--samples", str(samples),
        "--out", str(tmp_path / "out"),
    )  # fmt: skip
    assert code == 0, text
    stats = json.loads((tmp_path / "out" / "self_improve.json").read_text())
    assert stats["extraction_failures"] == 1 and stats["kept_questions"] == 1
    (tmp_path / "file").write_text("x")
    code, text = run(
        "self-improve", "collect", "--prompts", str(prompts), "--samples", str(samples),
        "--out", str(tmp_path / "file"), "--overwrite",
    )  # fmt: skip
    assert code == 1 and "is a file; give --out a folder" in one_line(text)
    assert (tmp_path / "file").read_text() == "x"
