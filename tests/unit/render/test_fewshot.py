"""Few-shot rules, randomized options and length budgets: deterministic, balanced, never leaky."""

from __future__ import annotations

import collections
import itertools
import random
from pathlib import Path
from typing import Any

import pytest

from flanmix.errors import SpecError
from flanmix.render.fewshot import (
    compose,
    example_separator,
    exemplar_candidates,
    smallest_pool,
)
from flanmix.render.options import MARKERS, STARTS, draw_style
from flanmix.render.render import (
    LeafContext,
    RenderDrop,
    Rendered,
    assigned_template,
    render_example,
)
from flanmix.render.templates import CompiledFamily, compile_family
from flanmix.render.tokenize import token_counter
from flanmix.sources.files import Example
from flanmix.spec.load import Family
from flanmix.spec.models import FamilySpec, FewShotPattern, FewShotSettings, OptionsSettings
from flanmix.spec.yamlfile import YamlDoc

TEMPLATES = [
    {
        "id": f"t{i}",
        "input": f"Q{i}: {{{{ text }}}}\n\n{{{{ options_ }}}}",
        "target": "{{ label }}",
        "answer_choices": ["good", "bad"],
    }
    for i in range(4)
] + [
    {
        "id": "inv",
        "input": "Write a text labelled {{ label }}.",
        "target": "{{ text }}",
        "inverted": True,
    }
]


def family(**extra: Any) -> CompiledFamily:
    data = {"family": "fam", "templates": TEMPLATES, **extra}
    return compile_family(Family(FamilySpec.model_validate(data), YamlDoc("fam.yaml", data)))


def examples(n: int, task: str = "t") -> list[Example]:
    return [
        Example(task, f"e{i}", i, {"text": f"text number {i}", "label": "good" if i % 2 else "bad"})
        for i in range(n)
    ]


def leaf(leaf_type: str = "fs_opt", **kw: Any) -> LeafContext:
    return LeafContext("t", "c", "Src", leaf_type, 7, **kw)


POOL = examples(40)


# --- exemplar rules ------------------------------------------------------------------------------


@pytest.mark.parametrize("leaf_type", ["fs_opt", "fs_opt+x_shot", "fs_noopt"])
def test_exemplars_never_include_the_target_and_come_from_the_pool(leaf_type: str) -> None:
    fam = family()
    pool_ids = {e.example_id for e in POOL}
    for ex in POOL:  # every query is itself in the pool
        row, reason = render_example(fam, leaf(leaf_type), ex, pool=POOL)
        if reason == "no_exemplars":
            continue
        assert row is not None, reason
        assert ex.example_id not in row["exemplar_ids"]
        assert set(row["exemplar_ids"]) <= pool_ids
        assert len(row["exemplar_ids"]) == len(set(row["exemplar_ids"]))


def test_template_mix_takes_the_configured_shots_each_with_its_own_template() -> None:
    fam = family()
    ctx = leaf("fs_opt", fewshot=FewShotSettings(shots=5))
    seen_templates = collections.Counter()
    for ex in POOL[:20]:
        row, _ = render_example(fam, ctx, ex, pool=POOL)
        assert row is not None and len(row["exemplar_ids"]) == 5
        by_id = {e.example_id: e for e in POOL}
        for eid in row["exemplar_ids"]:
            seen_templates[assigned_template(fam, ctx, by_id[eid]).spec.id] += 1
    assert set(seen_templates) == {"t0", "t1", "t2", "t3"}  # inverted templates never serve


def test_x_shot_keeps_only_candidates_with_the_query_template() -> None:
    fam = family()
    ctx = leaf("fs_opt+x_shot", fewshot=FewShotSettings(candidates=25))
    by_id = {e.example_id: e for e in POOL}
    counts = []
    for ex in POOL:
        row, reason = render_example(fam, ctx, ex, pool=POOL)
        if row is None:
            assert reason == "no_exemplars"
            continue
        query_t = assigned_template(fam, ctx, ex)
        assert row["template_id"] == query_t.spec.id
        assert {assigned_template(fam, ctx, by_id[e]).spec.id for e in row["exemplar_ids"]} == {
            query_t.spec.id
        }
        counts.append(len(row["exemplar_ids"]))
    # 25 candidates over 4 templates leave about 6 shots.
    assert 4 <= sum(counts) / len(counts) <= 8


def test_an_empty_pool_or_a_tiny_budget_drops_the_row_as_no_exemplars() -> None:
    fam = family()
    assert render_example(fam, leaf(), POOL[0], pool=[POOL[0]]) == (None, "no_exemplars")
    tiny = leaf(fewshot=FewShotSettings(budget=3))
    assert render_example(fam, tiny, POOL[0], pool=POOL) == (None, "no_exemplars")


def test_budget_drops_exemplars_from_the_end_until_query_and_exemplars_fit() -> None:
    fam = family()
    ex = POOL[0]
    full, _ = render_example(
        fam, leaf(fewshot=FewShotSettings(shots=5, budget=10_000)), ex, pool=POOL
    )
    assert full is not None and len(full["exemplar_ids"]) == 5
    shots_by_budget = []
    for budget in range(10, 80, 3):
        ctx = leaf(fewshot=FewShotSettings(shots=5, budget=budget))
        row, reason = render_example(fam, ctx, ex, pool=POOL)
        if row is None:
            assert reason == "no_exemplars"
            shots_by_budget.append(0)
            continue
        assert row["exemplar_ids"] == full["exemplar_ids"][: len(row["exemplar_ids"])]  # a prefix
        # What the budget counts (the query's input and the exemplars as laid out) is exactly
        # the whitespace tokens of the row's input, as the default pattern adds no prefixes.
        assert len(row["inputs"].split()) <= budget
        shots_by_budget.append(len(row["exemplar_ids"]))
    assert shots_by_budget == sorted(shots_by_budget)
    assert shots_by_budget[0] == 0 and shots_by_budget[-1] == 5
    assert len(set(shots_by_budget)) == 6  # every count from 0 to 5 occurs


def test_exemplar_choice_is_reproducible_and_differs_between_queries() -> None:
    fam = family()
    a = [render_example(fam, leaf(), e, pool=POOL)[0]["exemplar_ids"] for e in POOL[:10]]
    b = [
        render_example(fam, leaf(), e, pool=list(reversed(POOL)))[0]["exemplar_ids"]
        for e in POOL[:10]
    ]
    assert a == b  # the pool's order does not matter
    assert len({tuple(x) for x in a}) == 10
    other_seed = LeafContext("t", "c", "Src", "fs_opt", 8)
    c = [render_example(fam, other_seed, e, pool=POOL)[0]["exemplar_ids"] for e in POOL[:10]]
    assert c != a


def test_exemplar_candidates_use_every_pool_member_about_equally() -> None:
    uses = collections.Counter()
    for ex in POOL:
        for e in itertools.islice(exemplar_candidates(leaf(), ex, POOL), 5):
            uses[e.example_id] += 1
    assert len(uses) == len(POOL)
    assert max(uses.values()) <= 3 * (5 * len(POOL) / len(POOL))


def test_smallest_pool_is_bounded_and_order_independent() -> None:
    many = examples(500)
    pool = smallest_pool(7, many, 16)
    assert len(pool) == 16
    assert smallest_pool(7, reversed(many), 16) == pool
    assert smallest_pool(8, many, 16) != pool


def test_compose_lays_out_exemplars_and_query_like_flan() -> None:
    fam = family()
    t = fam.templates[0]
    shots = [Rendered(t, "in1", "out1", []), Rendered(t, "in2", "out2", [])]
    query = Rendered(t, "q", "a", [])
    pattern = FewShotPattern(
        inputs_prefix="Q: ",
        targets_prefix="A: ",
        x_y_delimiter="\n",
        example_separator=["\n\n"],
        final_suffix=" END",
        input_pattern="{inputs}{final_suffix}",
    )
    assert compose(pattern, "\n\n", shots, query) == (
        "Q: in1\nA: out1\n\nQ: in2\nA: out2\n\nQ: q\nA: END"
    )


def test_the_example_separator_is_one_per_task() -> None:
    tasks = [LeafContext(f"task{i}", "c", "S", "fs_opt", 7) for i in range(30)]
    pattern = FewShotPattern()
    assert {example_separator(pattern, ctx) for ctx in tasks} == {"\n", "\n\n", "\n\n\n"}
    ctx = leaf()
    assert len({example_separator(pattern, ctx) for _ in range(5)}) == 1


def test_few_shot_without_options_removes_them_from_exemplars_and_query() -> None:
    fam = family()
    row, _ = render_example(fam, leaf("fs_noopt"), POOL[3], pool=POOL)
    assert row is not None and "OPTIONS" not in row["inputs"] and "- good" not in row["inputs"]
    row, _ = render_example(fam, leaf("fs_opt"), POOL[3], pool=POOL)
    assert row is not None and row["inputs"].count("OPTIONS:\n- good\n- bad") == 6


# --- inverted templates ---------------------------------------------------------------------------


def test_inverted_tasks_use_only_inverted_templates_and_others_never() -> None:
    fam = family()
    inv = leaf("zs_opt", inverted=True)
    normal = leaf("zs_opt")
    for ex in POOL:
        assert render_example(fam, inv, ex)[0]["template_id"] == "inv"
        assert render_example(fam, normal, ex)[0]["template_id"] != "inv"


def test_inverted_few_shot_rows_are_inverted_throughout() -> None:
    """Flan 2022 has few-shot leaves for CoT-II and dialog-II: exemplars and query inverted."""
    fam = family()
    for leaf_type in ("fs_opt", "fs_opt+x_shot"):
        ctx = leaf(leaf_type, inverted=True)
        for ex in POOL[:10]:
            row, reason = render_example(fam, ctx, ex, pool=POOL)
            assert row is not None, reason
            assert row["template_id"] == "inv"
            assert row["inputs"].count("Write a text labelled") == len(row["exemplar_ids"]) + 1


# --- randomized options ---------------------------------------------------------------------------


def test_random_options_are_reproducible_and_spread_over_every_style() -> None:
    fam = family()
    ctx = leaf("zs_opt", options=OptionsSettings(style="random"))
    many = examples(600)
    rows = [render_example(fam, ctx, e)[0]["inputs"] for e in many]
    assert rows == [render_example(fam, ctx, e)[0]["inputs"] for e in many]
    starts = collections.Counter(next((s for s in STARTS if s and s in r), "") for r in rows)
    assert len(starts) == len(STARTS)
    expected = len(rows) / len(STARTS)
    assert all(0.5 * expected < n < 1.6 * expected for n in starts.values()), starts


def test_marker_targets_replace_an_answer_by_its_enumerating_marker() -> None:
    rng = random.Random(0)
    styles = [draw_style(rng) for _ in range(200)]
    for style in styles:
        marker = style.target_marker(["good", "bad"], "bad")
        if style.markers.enumerates:
            assert marker is not None and marker in style.block(["good", "bad"])
        else:
            assert marker is None
    assert {m.enumerates for m in MARKERS} == {True, False}
    fam = family()
    ctx = leaf("zs_opt", options=OptionsSettings(style="random", marker_targets=True))
    targets = {render_example(fam, ctx, e)[0]["targets"] for e in examples(200)}
    assert {"good", "bad"} & targets and len(targets) > 4  # bullets keep text; markers replace


def test_global_random_state_is_untouched() -> None:
    random.seed(123)
    before = random.random()
    random.seed(123)
    fam = family()
    for e in POOL[:5]:
        render_example(fam, leaf(options=OptionsSettings(style="random")), e, pool=POOL)
    assert random.random() == before


# --- tokenizers -----------------------------------------------------------------------------


def test_whitespace_and_character_counters() -> None:
    assert token_counter("whitespace")("a b  c\nd") == 4
    assert token_counter("characters")("abc d") == 5


def test_a_tokenizers_json_file_counts_its_own_tokens(tmp_path: Path) -> None:
    from tokenizers import Tokenizer, models, pre_tokenizers

    vocab = {"[UNK]": 0, "hello": 1, "world": 2, "!": 3}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    path = tmp_path / "tokenizer.json"
    tok.save(str(path))
    count = token_counter(str(path))
    assert count("hello world!") == 3
    ctx = leaf(fewshot=FewShotSettings(tokenizer=str(path), budget=2))
    assert render_example(family(), ctx, POOL[0], pool=POOL) == (None, "no_exemplars")


def test_a_sentencepiece_model_counts_its_pieces(tmp_path: Path) -> None:
    import sentencepiece as spm

    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join(f"text number {i} is good or bad" for i in range(300)))
    spm.SentencePieceTrainer.train(
        input=str(corpus),
        model_prefix=str(tmp_path / "sp"),
        vocab_size=40,
        model_type="bpe",
        minloglevel=2,
    )
    count = token_counter(str(tmp_path / "sp.model"))
    assert count("text number 5") >= 3


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("missing.json", None, "neither 'whitespace', 'characters' nor an existing file"),
        ("broken.json", "{not json", "does not load"),
        ("broken.model", "garbage", "does not load"),
        ("vocab.txt", "a b", r"must end in \.json \(tokenizers\) or \.model"),
    ],
)
def test_a_tokenizer_that_does_not_load_is_a_clear_error(
    tmp_path: Path, name: str, content: str | None, message: str
) -> None:
    path = tmp_path / name
    if content is not None:
        path.write_text(content)
    token_counter.cache_clear()
    with pytest.raises(SpecError, match=message):
        token_counter(str(path))


def test_render_drop_carries_its_reason() -> None:
    assert RenderDrop("no_exemplars").reason == "no_exemplars"


def test_dialog_filter_labels_turns_with_a_seeded_speaker_pair() -> None:
    data = {
        "family": "dlg",
        "templates": [
            {"id": "d1", "input": "{{ turns | dialog }}\nReply:", "target": "{{ reply }}"}
        ],
    }
    fam = compile_family(Family(FamilySpec.model_validate(data), YamlDoc("d.yaml", data)))
    ctx = leaf("zs_opt")
    exs = [
        Example("t", f"d{i}", i, {"turns": ["hi", "hello", "how are you"], "reply": "fine"})
        for i in range(60)
    ]
    rendered = [render_example(fam, ctx, e)[0]["inputs"] for e in exs]
    assert rendered == [render_example(fam, ctx, e)[0]["inputs"] for e in exs]
    assert len(set(rendered)) > 4  # speaker pairs and separators vary between examples
    first = rendered[0].split("\n")[0]
    assert first.endswith(": hi") and first.split(":")[0] in {
        s
        for pair in __import__("flanmix.render.environment").render.environment.DIALOG_SPEAKERS
        for s in pair
    }


def test_x_shot_keeps_the_family_header_and_strips_its_target() -> None:
    fam = family(fewshot={"header": "About {{ label }} things:\n", "x_y_delimiter": " => "})
    ctx = leaf("fs_opt+x_shot")
    for ex in POOL[:10]:
        row, _ = render_example(fam, ctx, ex, pool=POOL)
        if row is None:
            continue
        assert row["inputs"].startswith(f"About {ex.fields['label']} things:\n")
        assert row["targets"] == row["targets"].strip()


def test_flan_style_doubled_braces_in_input_pattern_are_refused() -> None:
    with pytest.raises(ValueError, match=r"doubled braces \{\{inputs\}\}; write \{inputs\}"):
        FewShotPattern(input_pattern="{{inputs}}{final_suffix}")


def test_the_pool_must_be_larger_than_the_exemplars_it_feeds() -> None:
    with pytest.raises(ValueError, match=r"pool_size 10 is too small .* use pool_size >= 26"):
        FewShotSettings(formats=["x_shot"], pool_size=10)
    assert FewShotSettings(formats=["template_mix"], pool_size=10).pool_size == 10
