"""The n-gram index and matcher: exact matches, the n-1 boundary, normalisation, short eval
texts, several eval sets, and a save/load round trip."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from flanmix.hygiene.ngrams import Match, NgramIndex, build_index, hash_words, normal_words

WORDS = [
    "alpha",
    "bravo",
    "charlie",
    "delta",
    "echo",
    "foxtrot",
    "golf",
    "hotel",
    "india",
    "juliet",
    "kilo",
    "lima",
    "mike",
]
PASSAGE = " ".join(WORDS)  # exactly 13 words
FILLER = "one two three four five six seven eight nine ten eleven twelve thirteen fourteen"


def index(*texts: tuple[str, str, str], n: int = 13, min_words: int = 8) -> NgramIndex:
    return build_index(list(texts), n=n, min_words=min_words)


def test_a_shared_13_gram_matches_and_names_the_item_and_the_words() -> None:
    idx = index(("mmlu", "q7", f"{FILLER} {PASSAGE} {FILLER}"))
    [found] = idx.match([f"Some training text: {PASSAGE}. The end."])
    assert found == [Match("mmlu", "q7", PASSAGE, 1)]


def test_twelve_shared_words_are_not_a_match() -> None:
    idx = index(("mmlu", "q7", f"{FILLER} {PASSAGE} {FILLER}"))
    twelve = " ".join(WORDS[:12])
    assert idx.match([f"zulu {twelve} yankee", f"{twelve}", " ".join(WORDS[1:])]) == [[], [], []]


def test_words_are_case_folded_and_split_on_punctuation_and_whitespace() -> None:
    idx = index(("bbh", "7", PASSAGE))
    noisy = (
        "ALPHA,bravo--Charlie\n\tdelta (echo) foxtrot; golf... HOTEL india/juliet kilo 'lima' Mike!"
    )
    [found] = idx.match([noisy])
    assert found == [Match("bbh", "7", PASSAGE, 1)]
    assert normal_words("Straße, ÜBER_all") == ["strasse", "über", "all"]
    # Non-ASCII text matches its case-folded form.
    uni = "Über die Straße gehen wir heute Abend mit unseren Freunden nach Hause zurück"
    assert index(("x", "1", uni)).match([uni.upper()])[0][0].gram == " ".join(normal_words(uni))


def test_counts_every_shared_gram_and_shows_the_first() -> None:
    idx = index(("mmlu", "q1", f"{PASSAGE} november oscar papa"))
    [found] = idx.match([f"{PASSAGE} november oscar"])  # 3 shared 13-grams
    assert found[0].grams == 3 and found[0].gram == PASSAGE


def test_short_eval_texts_are_indexed_whole_from_min_words() -> None:
    question = "what is the capital city of france today"  # 8 words
    idx = index(("mmlu", "q", question), ("mmlu", "tiny", "yes or no"), min_words=8)
    assert idx.lengths == (8, 13)
    [hit, miss, tiny] = idx.match(
        [f"Q: {question.upper()}? A: Paris", "what is the capital city of france", "yes or no"]
    )
    assert hit == [Match("mmlu", "q", question, 1)] and miss == [] and tiny == []


def test_n_grams_never_span_two_texts() -> None:
    idx = index(("mmlu", "q", PASSAGE))
    half = len(WORDS) // 2
    texts = [" ".join(WORDS[:half]), " ".join(WORDS[half:])]
    assert idx.match(texts) == [[], []]


def test_one_match_per_eval_set_sorted_by_name() -> None:
    idx = index(("tydiqa", "t1", PASSAGE), ("bbh", "b1", f"{FILLER}"), ("bbh", "b2", PASSAGE))
    [found] = idx.match([PASSAGE])
    assert [(m.eval_set, m.item) for m in found] == [("bbh", "b2"), ("tydiqa", "t1")]


def test_empty_index_and_empty_texts() -> None:
    empty = build_index([])
    assert len(empty) == 0 and empty.match(["anything", ""]) == [[], []]
    assert index(("a", "1", PASSAGE)).match(["", "   ", "!!"]) == [[], [], []]


def test_save_and_load_round_trip(tmp_path: Path) -> None:
    idx = index(("mmlu", "q7", PASSAGE), ("bbh", "b", f"{FILLER} {PASSAGE}"))
    idx.save(str(tmp_path / "i.npz"))
    back = NgramIndex.load(str(tmp_path / "i.npz"))
    assert back.set_names == idx.set_names and back.item_ids == idx.item_ids
    assert np.array_equal(back.hashes, idx.hashes) and back.lengths == idx.lengths
    assert back.match([PASSAGE]) == idx.match([PASSAGE])
    assert back.nbytes > back.hashes.nbytes


def test_word_hashes_do_not_depend_on_the_batch() -> None:
    alone = hash_words(["delta echo"]).hashes
    batched = hash_words(["alpha bravo charlie", "Delta, ECHO"])
    assert np.array_equal(batched.hashes[3:], alone)
    assert batched.text.tolist() == [0, 0, 0, 1, 1]


words = st.lists(st.sampled_from(WORDS + ["x", "y", "zz"]), min_size=0, max_size=30)


@settings(max_examples=60, deadline=None)
@given(eval_words=words, train_words=words, n=st.integers(2, 6))
def test_matches_exactly_when_an_n_gram_is_shared(
    eval_words: list[str], train_words: list[str], n: int
) -> None:
    """Against a plain set of word tuples: no false negatives, no false positives."""
    grams = {tuple(eval_words[i : i + n]) for i in range(len(eval_words) - n + 1)}
    shared = [i for i in range(len(train_words) - n + 1) if tuple(train_words[i : i + n]) in grams]
    [found] = index(("e", "1", " ".join(eval_words)), n=n, min_words=n).match(
        [" ".join(train_words)]
    )
    if shared:
        assert found == [
            Match("e", "1", " ".join(train_words[shared[0] : shared[0] + n]), len(shared))
        ]
    else:
        assert found == []


def test_short_texts_of_several_lengths_in_one_batch() -> None:
    texts = {k: " ".join(WORDS[:k]) for k in (8, 9, 12)}
    idx = index(*((f"s{k}", str(k), t) for k, t in texts.items()))
    assert idx.lengths == (8, 9, 12, 13)
    found = idx.match([f"zulu {t} yankee" for t in texts.values()])
    assert [[m.eval_set for m in ms] for ms in found] == [["s8"], ["s8", "s9"], ["s12", "s8", "s9"]]


def test_combining_marks_stay_in_words_and_composed_forms_agree() -> None:
    import unicodedata

    assert normal_words("हिन्दी भाषा") == ["हिन्दी", "भाषा"]
    text = "Le café était fermé après la réunion du comité économique régional hier soir"
    idx = index(("fr", "1", unicodedata.normalize("NFC", text)))
    [found] = idx.match([unicodedata.normalize("NFD", text)])
    assert found and found[0].eval_set == "fr"


def test_few_shot_rows_are_checked_part_by_part_and_exemplars_remembered() -> None:
    from flanmix.pipeline import transforms
    from flanmix.render.fewshot import TURNS

    idx = index(("mmlu", "q7", PASSAGE))
    exemplar = f"Context: {PASSAGE}."
    fewshot = {"inputs": "composed prompt", "targets": "yes", TURNS: [exemplar, "no", "Query?"]}
    zero = {"inputs": f"Again {PASSAGE}", "targets": "no"}
    clean = {"inputs": "nothing here", "targets": "fine", TURNS: ["a", "b", "c"]}
    first = transforms.row_matches(idx, [fewshot, zero, clean])
    assert [[m.item for m in ms] for ms in first] == [["q7"], ["q7"], []]
    assert exemplar in idx.remembered  # an exemplar's result is remembered, with its index
    assert transforms.row_matches(idx, [fewshot, zero, clean]) == first  # and reused alike
    other = index(("bbh", "b1", FILLER))  # another build's index sees none of them
    assert transforms.row_matches(other, [fewshot]) == [[]]
