"""Hygiene keys and task exclusion in mixture files: `dedup`, `decontaminate`,
`decontamination` resolve into `Mixture.hygiene`, `exclude` into pruned leaves and
`Mixture.excluded`, and every mistake is a SpecError naming file, key path and line."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import tiny_records, write_jsonl

from flanmix.errors import SpecError
from flanmix.hygiene.evalsets import eval_texts
from flanmix.spec.load import load_mixture

# One collection; `{tasks}` holds task lines (indented 6), `{extra}` top-level keys.
MIX = """\
name: {name}
templates_dir: templates
{extra}
collections:
  c1:
    template_types: {{zs_opt: 1}}
    tasks:
{tasks}
"""


def task_line(name: str, path: str = "data/a.jsonl") -> str:
    return f"      {name}: {{templates: tiny, source: {{kind: jsonl, path: {path}, id_field: id}}}}"


def mix(name: str = "top", tasks: tuple[str, ...] = ("a",), extra: str = "") -> str:
    return MIX.format(name=name, extra=extra, tasks="\n".join(task_line(t) for t in tasks))


def line_of(path: Path, needle: str) -> int:
    hits = [i for i, line in enumerate(path.read_text().splitlines(), 1) if needle in line]
    assert hits, f"{needle!r} not in {path}"
    return hits[0]


def load_error(path: Path) -> SpecError:
    with pytest.raises(SpecError) as info:
        load_mixture(str(path))
    return info.value


def assert_points_at(err: SpecError, file: Path, key_path: str, line: int) -> None:
    """The error's fields and its text name the file, the key path and the line."""
    text = str(err)
    assert (err.file, err.path, err.line) == (str(file), key_path, line), text
    assert text.startswith(f"{file}, at {key_path}, line {line}: "), text


@pytest.fixture
def data() -> dict[str, list[dict]]:
    return {"a.jsonl": tiny_records(4)}


# --- hygiene keys --------------------------------------------------------------------------------


def test_defaults_are_no_dedup_and_no_eval_sets(
    make_mixture: Callable[..., Path], data: dict
) -> None:
    mixture = load_mixture(str(make_mixture(mix(), data)))
    hygiene = mixture.hygiene
    assert hygiene.dedup == "none"
    assert hygiene.eval_sets == ()
    assert not hygiene.active
    settings = hygiene.decontamination
    assert (settings.n, settings.min_words, settings.action) == (13, 8, "drop")
    assert mixture.excluded == {}


def test_dedup_and_decontamination_settings_are_read(
    make_mixture: Callable[..., Path], data: dict
) -> None:
    extra = "dedup: mixture\ndecontamination: {n: 8, min_words: 5, action: flag}"
    hygiene = load_mixture(str(make_mixture(mix(extra=extra), data))).hygiene
    assert hygiene.dedup == "mixture" and hygiene.active
    settings = hygiene.decontamination
    assert (settings.n, settings.min_words, settings.action) == (8, 5, "flag")


def test_a_registry_name_resolves_with_an_unverified_note(
    make_mixture: Callable[..., Path], data: dict
) -> None:
    path = make_mixture(mix(extra="decontaminate: [mmlu]"), data)
    hygiene = load_mixture(str(path)).hygiene  # nothing is fetched while loading
    assert hygiene.active
    (mmlu,) = hygiene.eval_sets
    assert mmlu.name == "mmlu"
    assert mmlu.fields == ("question", "choices")
    assert mmlu.source.source.kind == "hub" and mmlu.source.source.repo_id == "cais/mmlu"
    assert mmlu.source.collection == "eval"
    assert (mmlu.source.file, mmlu.source.key_path) == (str(path), "decontaminate.0")
    assert "registry entry mmlu (cais/mmlu) is unverified" in mmlu.note


def test_an_unknown_registry_name_points_at_its_line_and_suggests_one(
    make_mixture: Callable[..., Path], data: dict
) -> None:
    path = make_mixture(mix(extra="decontaminate:\n  - mmlu\n  - mmlv"), data)
    err = load_error(path)
    assert_points_at(err, path, "decontaminate[1]", line_of(path, "- mmlv"))
    assert "unknown eval set 'mmlv'; did you mean 'mmlu'?" in str(err)


def test_an_unknown_registry_name_far_from_any_lists_the_names(
    make_mixture: Callable[..., Path], data: dict
) -> None:
    path = make_mixture(mix(extra="decontaminate: [squad]"), data)
    err = load_error(path)
    assert err.path == "decontaminate[0]"
    assert "unknown eval set 'squad'; valid: bbh, mgsm, mmlu, tydiqa" in str(err)


def test_an_inline_eval_set_resolves_against_the_mixture_folder(
    make_mixture: Callable[..., Path],
    data: dict,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    write_jsonl(
        tmp_path / "evals" / "held.jsonl",
        [{"qid": "q1", "question": "What is held out here?", "answer": "this"}],
    )
    extra = """\
decontaminate:
  - name: held
    source: {kind: jsonl, path: evals/held.jsonl, id_field: qid}
    fields: [question]"""
    path = make_mixture(mix(extra=extra), data)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # not the current folder: the mixture's
    (held,) = load_mixture(str(path)).hygiene.eval_sets
    assert held.name == "held" and held.note == ""
    assert held.fields == ("question",)
    assert held.source.source_pattern() == str(tmp_path.resolve() / "evals" / "held.jsonl")
    assert list(eval_texts(held)) == [("q1", "What is held out here?")]


@pytest.mark.parametrize(
    ("entries", "needle"),
    [
        ("[mmlu, mmlu]", "decontaminate:"),
        (
            "\n  - mmlu\n  - {name: mmlu, source: {kind: jsonl, path: evals/m.jsonl}}",
            "- {name: mmlu",
        ),
    ],
    ids=["registry-twice", "registry-and-inline"],
)
def test_the_same_eval_set_name_twice_is_refused(
    make_mixture: Callable[..., Path], data: dict, entries: str, needle: str
) -> None:
    path = make_mixture(mix(extra=f"decontaminate: {entries}"), data)
    err = load_error(path)
    assert_points_at(err, path, "decontaminate[1]", line_of(path, needle))
    assert "eval set 'mmlu' is listed twice" in str(err)


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("dedup", "task"),
        ("decontaminate", "[mmlu]"),
        ("decontamination", "{n: 10}"),
    ],
)
def test_hygiene_keys_in_an_included_mixture_are_refused(
    make_mixture: Callable[..., Path], data: dict, key: str, value: str
) -> None:
    sub = make_mixture(mix("sub", ("b",), extra=f"{key}: {value}"), data, name="sub.yaml")
    top = make_mixture(mix(extra="include: {sub: 1}"), data)
    err = load_error(top)
    assert_points_at(err, sub, key, line_of(sub, f"{key}:"))
    assert f"`{key}` is set in an included mixture" in str(err)
    assert f"move `{key}` to {top.resolve()}" in str(err)


def test_a_nested_include_names_the_top_file(make_mixture: Callable[..., Path], data: dict) -> None:
    leaf = make_mixture(mix("leaf", ("c",), extra="dedup: none"), data, name="leaf.yaml")
    make_mixture(mix("mid", ("b",), extra="include: {leaf: 1}"), data, name="mid.yaml")
    top = make_mixture(mix(extra="include: {mid: 1}"), data)
    err = load_error(top)
    assert_points_at(err, leaf, "dedup", line_of(leaf, "dedup:"))
    assert f"move `dedup` to {top.resolve()}" in str(err)


def test_hygiene_in_the_top_mixture_covers_what_it_includes(
    make_mixture: Callable[..., Path], data: dict
) -> None:
    make_mixture(mix("sub", ("b",)), data, name="sub.yaml")
    top = make_mixture(mix(extra="include: {sub: 1}\ndedup: task"), data)
    mixture = load_mixture(str(top))
    assert sorted(mixture.tasks) == ["a", "b"]
    assert mixture.hygiene.dedup == "task"


@pytest.mark.parametrize(
    ("extra", "key_path", "needle", "message"),
    [
        (
            "decontamination: {n: 5, min_words: 8}",
            "decontamination",
            "decontamination:",
            "need 1 <= min_words <= n, got min_words 8 and n 5",
        ),
        (
            "decontamination: {min_words: 0}",
            "decontamination",
            "decontamination:",
            "need 1 <= min_words <= n, got min_words 0 and n 13",
        ),
        (
            "decontamination:\n  action: delete",
            "decontamination.action",
            "action:",
            "Input should be 'drop' or 'flag'",
        ),
        (
            "decontamination:\n  nn: 10",
            "decontamination.nn",
            "nn:",
            "unknown key 'nn'; did you mean 'n'?",
        ),
        ("dedup: mixtrue", "dedup", "dedup:", "Input should be 'none', 'task' or 'mixture'"),
    ],
    ids=["min-words-over-n", "min-words-zero", "unknown-action", "unknown-key", "unknown-dedup"],
)
def test_bad_hygiene_values(
    make_mixture: Callable[..., Path],
    data: dict,
    extra: str,
    key_path: str,
    needle: str,
    message: str,
) -> None:
    path = make_mixture(mix(extra=extra), data)
    err = load_error(path)
    assert_points_at(err, path, key_path, line_of(path, needle))
    assert message in str(err)


# --- exclude -------------------------------------------------------------------------------------


def test_exclude_by_task_glob(make_mixture: Callable[..., Path], data: dict) -> None:
    tasks = ("a", "task1_mmlu_algebra", "task2_mmlu_law", "task3_MMLU_caps")
    path = make_mixture(mix(tasks=tasks, extra="exclude: {tasks: ['*_mmlu_*']}"), data)
    mixture = load_mixture(str(path))
    assert sorted(mixture.tasks) == ["a", "task3_MMLU_caps"]  # globs are case-sensitive
    assert {task for task, _ in mixture.leaves()} == {"a", "task3_MMLU_caps"}
    assert mixture.excluded == {
        "task1_mmlu_algebra": "exclude.tasks: *_mmlu_*",
        "task2_mmlu_law": "exclude.tasks: *_mmlu_*",
    }


def test_exclude_by_niv2_ids_and_ranges(make_mixture: Callable[..., Path], data: dict) -> None:
    tasks = (
        "task664_x",
        "task700_y",
        "task845_pubmedqa_z",
        "task663_before",
        "task684_gap",
        "task685_low",
        "task737_high",
        "task738_after",
        "task6640_longer",
    )
    extra = 'exclude: {niv2_ids: [664, "685-737"]}'
    mixture = load_mixture(str(make_mixture(mix(tasks=tasks, extra=extra), data)))
    assert mixture.excluded == {
        "task664_x": "exclude.niv2_ids: task 664",
        "task685_low": "exclude.niv2_ids: task 685",
        "task700_y": "exclude.niv2_ids: task 700",
        "task737_high": "exclude.niv2_ids: task 737",
    }
    assert set(mixture.tasks) == {
        "task663_before",
        "task684_gap",
        "task738_after",
        "task845_pubmedqa_z",  # PubMedQA is not among these ids
        "task6640_longer",  # the number is 6640, not 664
    }


def test_a_bad_niv2_id_is_refused(make_mixture: Callable[..., Path], data: dict) -> None:
    path = make_mixture(mix(extra="exclude:\n  niv2_ids: [664, 685to737]"), data)
    err = load_error(path)
    assert_points_at(err, path, "exclude.niv2_ids", line_of(path, "niv2_ids:"))
    assert "a NIv2 task id is a number or a range like 685-737, got '685to737'" in str(err)


def test_exclude_by_dataset_in_the_task_name_or_source_location(
    make_mixture: Callable[..., Path], data: dict
) -> None:
    text = MIX.format(
        name="top",
        extra="exclude: {datasets: [PubMedQA]}",
        tasks="\n".join(
            [
                task_line("a"),
                task_line("task845_pubmedqa_z"),  # in the name, other case
                task_line("local_medical", "data/PUBMEDQA_subset.jsonl"),  # in the path
                "      hub_medical: {templates: tiny, "
                "source: {kind: hub, repo_id: qiaojin/PubMedQA}}",  # in the Hub repo id
                task_line("medqa", "data/medqa.jsonl"),  # a near miss stays
                task_line("task1665_trainglepubmedqa_z"),  # not a whole word: stays
            ]
        ),
    )
    mixture = load_mixture(str(make_mixture(text, data)))
    assert sorted(mixture.tasks) == ["a", "medqa", "task1665_trainglepubmedqa_z"]
    assert mixture.excluded == {
        "hub_medical": "exclude.datasets: PubMedQA",
        "local_medical": "exclude.datasets: PubMedQA",
        "task845_pubmedqa_z": "exclude.datasets: PubMedQA",
    }


def test_exclude_applies_to_the_tasks_of_included_files(
    make_mixture: Callable[..., Path], data: dict
) -> None:
    make_mixture(mix("sub", ("task664_x", "b")), data, name="sub.yaml")
    extra = "include: {sub: 1}\nexclude: {niv2_ids: [664]}"
    mixture = load_mixture(str(make_mixture(mix(extra=extra), data)))
    assert sorted(mixture.tasks) == ["a", "b"]
    assert mixture.excluded == {"task664_x": "exclude.niv2_ids: task 664"}


def test_an_included_files_exclude_applies_to_its_own_tasks_only(
    make_mixture: Callable[..., Path], data: dict
) -> None:
    sub_extra = "exclude: {tasks: [c, a]}"
    make_mixture(mix("sub", ("b", "c"), extra=sub_extra), data, name="sub.yaml")
    mixture = load_mixture(str(make_mixture(mix(extra="include: {sub: 1}"), data)))
    assert sorted(mixture.tasks) == ["a", "b"]  # the top's `a` is not the sub's to exclude
    assert mixture.excluded == {"c": "exclude.tasks: c"}


def test_a_task_excluded_by_one_include_but_kept_by_another_is_not_listed_excluded(
    make_mixture: Callable[..., Path], data: dict
) -> None:
    # The same task (identical definition) in two files; only one of them excludes it.
    make_mixture(
        mix("sub", ("b", "shared"), extra="exclude: {tasks: [shared]}"), data, name="sub.yaml"
    )
    make_mixture(mix("other", ("c", "shared")), data, name="other.yaml")
    mixture = load_mixture(str(make_mixture(mix(extra="include: {sub: 1, other: 1}"), data)))
    assert "shared" in mixture.tasks
    assert "shared" in {task for task, _ in mixture.leaves()}
    assert mixture.excluded == {}, "a task written to the output is reported as excluded"


def test_exclude_that_removes_every_task_is_an_error(
    make_mixture: Callable[..., Path], data: dict
) -> None:
    path = make_mixture(mix(tasks=("a", "b"), extra="exclude:\n  tasks: ['*']"), data)
    err = load_error(path)
    assert_points_at(err, path, "exclude", line_of(path, "exclude:"))
    assert "`exclude` leaves no task in this mixture" in str(err)


def test_exclude_in_the_top_file_that_removes_every_included_task_is_an_error(
    make_mixture: Callable[..., Path], data: dict
) -> None:
    make_mixture(mix("sub", ("task700_y",)), data, name="sub.yaml")
    text = "name: top\ninclude: {sub: 1}\nexclude: {niv2_ids: ['685-737']}\n"
    path = make_mixture(text, data)
    err = load_error(path)
    assert_points_at(err, path, "exclude", line_of(path, "exclude:"))
    assert "`exclude` leaves no task in this mixture" in str(err)


def test_rename_or_filter_on_files_read_in_place_is_refused(
    make_mixture: Callable[..., Path], data: dict
) -> None:
    from flanmix.checks import check_mixture

    text = MIX.format(
        name="top",
        extra="",
        tasks="      a: {templates: tiny, source: {kind: jsonl, path: data/a.jsonl, "
        "rename: {text: body}}}",
    )
    with pytest.raises(SpecError, match="read as they are: `rename` apply to snapshotted"):
        check_mixture(load_mixture(str(make_mixture(text, data))))
