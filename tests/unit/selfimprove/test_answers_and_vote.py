"""Answer extraction, the normal forms votes compare, and the self-consistency vote."""

from __future__ import annotations

import re

import pytest

from flanmix.selfimprove.answers import ANSWER_PATTERN, compile_pattern, extract, normalize
from flanmix.selfimprove.vote import (
    BELOW_THRESHOLD,
    NO_ANSWER,
    NO_RATIONALE,
    NO_SAMPLES,
    TIE,
    Vote,
    majority,
)

PATTERN = compile_pattern(ANSWER_PATTERN)


# --- normal forms ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("$1,200.50", "1200.5"),
        ("72", "72.0"),
        ("72", "72 apples"),
        ("$72", "72.00 dollars"),
        ("1 200", "1200"),
        ("-3", "- 3"),
        ("-0.50", "-.5"),
        ("0.0", "0"),
    ],
)
def test_numbers_compare_by_value(a: str, b: str) -> None:
    assert normalize(a, "number") == normalize(b, "number") is not None


@pytest.mark.parametrize(
    ("answer", "normal"),
    [
        ("$1,200.50", "1200.5"),
        ("72 apples", "72"),
        ("72.0", "72"),
        ("-3", "-3"),
        ("-3 degrees", "-3"),
        ("-0.5", "-0.5"),
        ("12,345,678.90", "12345678.9"),
        ("0.00", "0"),
    ],
)
def test_number_normal_forms(answer: str, normal: str) -> None:
    assert normalize(answer, "number") == normal


def test_negative_and_positive_numbers_differ() -> None:
    assert normalize("-3", "number") != normalize("3", "number")


@pytest.mark.parametrize("answer", ["", "no idea", "seventy-two", "$", ",", "."])
def test_no_number_has_no_normal_form(answer: str) -> None:
    assert normalize(answer, "number") is None


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("The Eiffel Tower!", "eiffel tower"),
        ("A dog.", "dog"),
        ("an Apple, of course", "apple of course"),
        ("New-York", "new york"),
        ("  YES  ", "yes"),
    ],
)
def test_text_ignores_case_punctuation_and_articles(a: str, b: str) -> None:
    assert normalize(a, "text") == normalize(b, "text") == b


def test_text_keeps_word_order_and_other_words() -> None:
    assert normalize("tower eiffel", "text") != normalize("eiffel tower", "text")
    assert normalize("no", "text") != normalize("yes", "text")


@pytest.mark.parametrize("answer", ["", "the", "A.", "!!!", "  "])
def test_text_of_nothing_but_articles_or_punctuation_is_none(answer: str) -> None:
    assert normalize(answer, "text") is None


@pytest.mark.parametrize("answer", ["(B)", "b", "B.", "B", " (b) ", "B) 42", "b: the dog", "B 42"])
def test_choice_letters_are_one_answer(answer: str) -> None:
    assert normalize(answer, "choice") == "B"


@pytest.mark.parametrize("answer", ["", "Both", "42", "()", "beta"])
def test_not_a_choice_letter(answer: str) -> None:
    assert normalize(answer, "choice") is None


# --- extraction -----------------------------------------------------------------------------


def test_extract_answer_and_rationale() -> None:
    got = extract("Two plus two is four. The answer is 4.", PATTERN, "number")
    assert got is not None
    assert (got.raw, got.normal, got.rationale) == ("4", "4", "Two plus two is four.")


def test_extract_keeps_the_answer_as_written() -> None:
    got = extract("It costs $1,200.50 in all.\nThe answer is: $1,200.50.\n", PATTERN, "number")
    assert got is not None
    assert (got.raw, got.normal, got.rationale) == (
        "$1,200.50",
        "1200.5",
        "It costs $1,200.50 in all.",
    )


def test_extract_without_a_match_is_none() -> None:
    assert extract("I think it is 4.", PATTERN, "number") is None
    assert extract("", PATTERN, "number") is None


def test_extract_a_match_without_a_normal_form() -> None:
    got = extract("Hmm. The answer is unclear.", PATTERN, "number")
    assert got is not None and got.raw == "unclear" and got.normal is None


def test_two_different_conclusions_are_no_answer() -> None:
    text = "First I thought the answer is 3.\nBut 2 + 2 = 4.\nThe answer is 4."
    got = extract(text, PATTERN, "number")
    assert got is not None and got.raw == "4" and got.normal is None


def test_the_rationale_ends_with_the_last_sentence_before_the_first_conclusion() -> None:
    text = "2 + 2 = 4. So the answer is 4. Indeed, the answer is 4.0."
    got = extract(text, PATTERN, "number")
    assert got is not None and (got.normal, got.rationale) == ("4", "2 + 2 = 4.")


def test_last_match_wins_on_one_line() -> None:
    got = extract("The answer is 3. Wait, 2 + 2 = 4, so the answer is 4.", PATTERN, "number")
    assert got is not None
    assert (got.raw, got.normal) == ("4", None)  # the last match, contradicting the first


def test_choice_extraction() -> None:
    got = extract("Dogs bark.\nThe answer is (B).", PATTERN, "choice")
    assert got is not None and (got.raw, got.normal, got.rationale) == ("(B)", "B", "Dogs bark.")


def test_custom_pattern_with_one_group() -> None:
    pattern = compile_pattern(r"####\s*(\S+)")
    got = extract("48 / 2 = 24\n24 + 48 = 72\n#### 72 apples", pattern, "number")
    assert got is not None
    assert (got.raw, got.normal, got.rationale) == ("72", "72", "48 / 2 = 24\n24 + 48 = 72")


def test_custom_pattern_without_groups_uses_the_whole_match() -> None:
    pattern = compile_pattern(r"-?\d+$")
    got = extract("3 apples\nso -12", pattern, "number")
    assert got is not None and (got.raw, got.normal, got.rationale) == ("-12", "-12", "3 apples")


def test_the_default_pattern_is_case_tolerant_on_the_first_letter() -> None:
    for text in ("the answer is 5", "The answer is 5", "The answer is: 5."):
        got = extract(text, PATTERN, "number")
        assert got is not None and got.normal == "5", text


def test_a_pattern_with_two_groups_is_refused() -> None:
    with pytest.raises(ValueError) as e:
        compile_pattern(r"(answer|result) is (.*)")
    assert str(e.value) == (
        "the answer pattern '(answer|result) is (.*)' has 2 groups; use one group around the "
        "answer, and (?:…) for the others"
    )


def test_non_capturing_groups_are_fine() -> None:
    assert compile_pattern(r"(?:answer|result) is (.*)").groups == 1


def test_an_invalid_regex_is_refused() -> None:
    with pytest.raises(
        ValueError, match=r"the answer pattern 'answer is \(' is not a valid regex: "
    ):
        compile_pattern("answer is (")


def test_compiled_patterns_are_multiline() -> None:
    assert compile_pattern(ANSWER_PATTERN).flags & re.MULTILINE


# --- the vote -------------------------------------------------------------------------------


def paths_to(answer: str, *rationales: str) -> list[str]:
    return [f"{r} The answer is {answer}." if r else f"The answer is {answer}." for r in rationales]


def test_majority_keeps_the_winner_and_its_paths() -> None:
    completions = [
        "2 and 2 make 4. The answer is 4.",
        "I do not know.",
        "Two twos are 4. The answer is $4.00.",
        "2 + 3 = 5. The answer is 5.",
    ]
    vote = majority(completions, PATTERN, "number", threshold=0.5)
    assert vote == Vote(
        samples=4,
        failures=1,
        answer="4",
        shown="4",
        confidence=0.5,
        paths=("2 and 2 make 4.", "Two twos are 4."),
        dropped=None,
    )


def test_shown_is_the_first_winning_path_as_written() -> None:
    vote = majority(["a. The answer is $4.00.", "b. The answer is 4."], PATTERN, "number", 0.0)
    assert (vote.answer, vote.shown) == ("4", "$4.00")


def test_confidence_is_over_all_samples_not_only_the_extracted() -> None:
    completions = paths_to("7", "x", "y") + ["no answer here"] * 30
    vote = majority(completions, PATTERN, "number", threshold=0.0)
    assert vote.samples == 32 and vote.failures == 30
    assert vote.confidence == pytest.approx(2 / 32)
    assert vote.answer == "7" and vote.dropped is None


def test_unnormalisable_answers_count_as_failures() -> None:
    completions = paths_to("7", "x") + paths_to("banana", "y", "z")
    vote = majority(completions, PATTERN, "number", threshold=0.0)
    assert (vote.answer, vote.failures, vote.confidence) == ("7", 2, pytest.approx(1 / 3))


def test_threshold_equal_to_confidence_keeps() -> None:
    completions = paths_to("4", "a", "b", "c") + paths_to("5", "d")
    vote = majority(completions, PATTERN, "number", threshold=0.75)
    assert vote.confidence == 0.75 and vote.dropped is None and len(vote.paths) == 3


def test_threshold_just_above_confidence_drops() -> None:
    completions = paths_to("4", "a", "b", "c") + paths_to("5", "d")
    vote = majority(completions, PATTERN, "number", threshold=0.7500001)
    assert vote.dropped == BELOW_THRESHOLD
    assert (vote.answer, vote.shown, vote.confidence, vote.paths) == ("4", "4", 0.75, ())


@pytest.mark.parametrize("threshold", [0.0, 0.3])
def test_a_tie_keeps_nothing(threshold: float) -> None:
    completions = paths_to("1", "a", "b") + paths_to("2", "c", "d") + paths_to("3", "e")
    vote = majority(completions, PATTERN, "number", threshold)
    assert vote.dropped == TIE
    assert (vote.answer, vote.shown, vote.paths) == (None, "", ())
    assert vote.confidence == pytest.approx(2 / 5)


def test_a_tie_ignores_sample_order() -> None:
    completions = paths_to("1", "a") + paths_to("2", "b")
    for order in (completions, completions[::-1]):
        assert majority(order, PATTERN, "number", 0.0).dropped == TIE


def test_a_tie_below_the_leader_does_not_matter() -> None:
    completions = paths_to("1", "a", "b", "c") + paths_to("2", "d") + paths_to("3", "e")
    vote = majority(completions, PATTERN, "number", 0.0)
    assert vote.dropped is None and vote.answer == "1"


def test_no_samples() -> None:
    assert majority([], PATTERN, "number", 0.5) == Vote(0, 0, None, "", 0.0, (), NO_SAMPLES)


def test_no_extractable_answer() -> None:
    completions = ["hmm", "The answer is unclear.", ""]
    assert majority(completions, PATTERN, "number", 0.0) == Vote(3, 3, None, "", 0.0, (), NO_ANSWER)


def test_answers_without_reasoning_keep_nothing() -> None:
    completions = ["The answer is 4.", "  The answer is 4.0", "why. The answer is 5."]
    vote = majority(completions, PATTERN, "number", 0.5)
    assert vote.dropped == NO_RATIONALE
    assert (vote.answer, vote.paths) == ("4", ())


def test_empty_rationales_are_skipped_but_others_kept() -> None:
    completions = ["The answer is 4.", "Because 2 + 2. The answer is 4."]
    vote = majority(completions, PATTERN, "number", 0.5)
    assert vote.paths == ("Because 2 + 2.",) and vote.dropped is None


def test_paths_are_deduplicated_on_collapsed_whitespace_in_sample_order() -> None:
    completions = [
        "Two  plus\ntwo is four.\nThe answer is 4.",
        "Two plus two is four. The answer is 4.",
        "Count: 1, 2, 3, 4. The answer is 4.",
        "  Two plus two   is four. The answer is 4.",
        "Wrong way. The answer is 5.",
    ]
    vote = majority(completions, PATTERN, "number", 0.5)
    assert vote.paths == ("Two  plus\ntwo is four.", "Count: 1, 2, 3, 4.")


def test_paths_differing_in_case_are_distinct() -> None:
    vote = majority(paths_to("4", "Two and two.", "two and two."), PATTERN, "number", 0.5)
    assert len(vote.paths) == 2


def test_max_paths() -> None:
    completions = paths_to("4", "a.", "b.", "c.")
    assert majority(completions, PATTERN, "number", 0.5, max_paths=2).paths == ("a.", "b.")
    assert majority(completions, PATTERN, "number", 0.5, max_paths=1).paths == ("a.",)
    assert majority(completions, PATTERN, "number", 0.5, max_paths=None).paths == ("a.", "b.", "c.")
    assert majority(completions, PATTERN, "number", 0.5, max_paths=10).paths == ("a.", "b.", "c.")


def test_text_and_choice_votes() -> None:
    text = (
        paths_to("the Eiffel Tower", "a") + paths_to("Eiffel tower!", "b") + paths_to("Paris", "c")
    )
    vote = majority(text, PATTERN, "text", 0.5)
    assert (vote.answer, vote.shown, vote.paths) == ("eiffel tower", "the Eiffel Tower", ("a", "b"))
    choice = paths_to("(B)", "x") + paths_to("b", "y") + paths_to("A", "z")
    vote = majority(choice, PATTERN, "choice", 0.5)
    assert (vote.answer, vote.shown, vote.paths) == ("B", "(B)", ("x", "y"))


def test_the_vote_is_deterministic() -> None:
    completions = paths_to("4", "a", "b", "a ") + paths_to("5", "c") + ["junk"]
    votes = {majority(list(completions), PATTERN, "number", 0.5, 2) for _ in range(5)}
    assert len(votes) == 1
    again = majority(completions, compile_pattern(ANSWER_PATTERN), "number", 0.5, 2)
    assert votes == {again}


def test_the_winner_does_not_depend_on_sample_order() -> None:
    completions = paths_to("4", "a", "b", "c") + paths_to("5", "d", "e") + ["junk"]
    forward = majority(completions, PATTERN, "number", 0.5)
    backward = majority(completions[::-1], PATTERN, "number", 0.5)
    assert (forward.answer, forward.confidence, forward.failures) == (
        backward.answer,
        backward.confidence,
        backward.failures,
    )
    assert backward.paths == forward.paths[::-1]


def test_number_forms_after_review() -> None:
    assert normalize("-$5", "number") == "-5"
    assert normalize("\u22125", "number") == "-5"
    assert normalize("3 1/2 cups", "number") == "3"
    assert normalize("1 200", "number") == normalize("1,200", "number") == "1200"
    assert normalize("1e3", "number") == "1000"
