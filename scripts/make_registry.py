"""Write flanmix/registry/flan2022.csv: every task Flan 2022 trains on and where its data lives.

The task lists come from the inventories in ../shared/data (relative to the repository root):

- flan_v2/mixture_rates.csv: the Flan 2021, T0, CoT and dialog base tasks. Input-inversion
  variants of the CoT and dialog tasks read the same data, so they get no row of their own.
- niv2/splits/default/train_tasks.txt: the NIv2 train tasks, minus the MMLU-derived ones
  (task ids 664-667 and 685-737), which Flan 2022 filters out.
- flan_v2/SOURCE.md: the FLAN commit and the sha256 of each CoT file in the offline snapshot.
- flan_v2/flan_collection_info.csv: Flan's own dataset names (used for the CoT notes).

Where each dataset lives (Hub repo ids, configs, splits, column mappings, Flan's TFDS names) is
hand-written in the tables below. The script fails if a table and an inventory disagree, so
neither can drift silently.

CSV conventions:

- `location`: a Hub dataset repo id; a raw URL for CoT files; `allenai/natural-instructions`
  (the GitHub repository) for NIv2; `tfds:<name>` for data that only exists in TFDS (the TFDS
  config then goes in `config` and the TFDS version in `revision`).
- `columns`: space-separated `flan_field=source_column` pairs, or just the name when both agree.
  The left name is the field Flan's preprocessor emits (for a label Flan only turns into an
  `answer` string, the source feature it reads). A dotted name is a nested key
  (`translation.en`); a comma list means several columns combined into one field.
- `verified`: `yes` only where the row was checked against real data available offline (CoT
  files whose sha256 matches SOURCE.md, and the NIv2 names from the official split file);
  everything else is `unverified` until `flanmix sources check` has looked at the live Hub.

Output is deterministic: fixed row order, "\\n" line endings, UTF-8, minimal CSV quoting.

Usage: python scripts/make_registry.py [--out PATH] [--data DIR]
"""

from __future__ import annotations

import argparse
import csv
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

from flanmix.hashing import file_sha256
from flanmix.plan.counts import T0_PREFIX
from flanmix.registry import COLLECTIONS, to_csv
from flanmix.registry import Entry as Row
from flanmix.sources.niv2 import is_mmlu_task, task_number

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "flanmix" / "registry" / "flan2022.csv"
DATA = ROOT.parent / "shared" / "data"

SUBMIX = {
    "flan2021_submix": "flan2021",
    "t0_submix": "t0",
    "cot_submix": "cot",
    "dialog_submix": "dialog",
}
INVERSION = "input_inversion"

NIV2_REPO = "allenai/natural-instructions"
P3_REPO = "bigscience/P3"
FLAN_RAW = "https://raw.githubusercontent.com/google-research/FLAN/{commit}/flan/v2/cot_data/{file}"


@dataclass(frozen=True)
class Source:
    """Where one hand-mapped task reads its training data."""

    location: str
    config: str
    split: str
    columns: str
    upstream: str
    notes: str = ""
    revision: str = "main"


def _tfds(name: str, config: str, version: str, columns: str, notes: str) -> Source:
    """A TFDS-only source: location `tfds:<name>`, the TFDS version as revision."""
    upstream = f"{name}/{config}:{version}" if config else f"{name}:{version}"
    return Source(f"tfds:{name}", config, "train", columns, upstream, notes, version)


GLUE = "nyu-mll/glue"
SUPER_GLUE = "aps/super_glue"
PARA_CRAWL = "ParaCrawl/para_crawl"
GEM_NOTE = "GEM version, as Flan's TFDS gem/*; script-based Hub repo"


def _wmt(year: str, pair: str, lang: str) -> Source:
    return Source(
        f"wmt/wmt{year}",
        pair,
        "train",
        f"sent1=translation.en sent2=translation.{lang}",
        f"wmt{year}_translate/{pair}:1.0.0",
    )


def _para_crawl_en(rows: str, how: str) -> Source:
    return Source(
        PARA_CRAWL,
        "enda",
        "train",
        "answer=translation.en",
        "para_crawl/enda:1.2.0",
        f"not a Hub dataset: synthesised by Flan's preprocessing from the English side of "
        f"ParaCrawl en-da ({how}; TFDS train rows {rows}); script-based Hub repo",
    )


# Flan 2021 base task -> source. Hub ids are the canonical org-prefixed names; upstream is the
# TFDS name and version in Flan's task configs (flan/v2/task_configs_v1.py, task_configs.py).
FLAN2021: dict[str, Source] = {
    "aeslc": Source(
        "Yale-LILY/aeslc", "", "train", "body=email_body subject=subject_line", "aeslc:1.0.0"
    ),
    "ag_news_subset": Source(
        "fancyzhx/ag_news",
        "",
        "train",
        "text label",
        "ag_news_subset:1.0.0",
        "Flan reads TFDS title and description separately; the Hub has only text "
        "(title and description joined)",
    ),
    "anli_r1": Source(
        "facebook/anli",
        "",
        "train_r1",
        "context=premise hypothesis label",
        "anli/r1:0.1.0",
        "the Hub has one config with a split per round",
    ),
    "anli_r2": Source(
        "facebook/anli",
        "",
        "train_r2",
        "context=premise hypothesis label",
        "anli/r2:0.1.0",
        "the Hub has one config with a split per round",
    ),
    "anli_r3": Source(
        "facebook/anli",
        "",
        "train_r3",
        "context=premise hypothesis label",
        "anli/r3:0.1.0",
        "the Hub has one config with a split per round",
    ),
    "arc_challenge": Source(
        "allenai/ai2_arc",
        "ARC-Challenge",
        "train",
        "question options=choices.text label=answerKey",
        "ai2_arc/ARC-Challenge:1.0.0",
        "Hub answerKey is a letter or digit, TFDS an index; Flan keeps 4-option questions only",
    ),
    "arc_easy": Source(
        "allenai/ai2_arc",
        "ARC-Easy",
        "train",
        "question options=choices.text label=answerKey",
        "ai2_arc/ARC-Easy:1.0.0",
        "Hub answerKey is a letter or digit, TFDS an index; Flan keeps 4-option questions only",
    ),
    "bool_q": Source(
        "google/boolq",
        "",
        "train",
        "text=passage question answer",
        "bool_q:1.0.0",
        "the Hub copy has no title column (TFDS has one and Flan's templates use it)",
    ),
    "cb": Source(SUPER_GLUE, "cb", "train", "premise hypothesis label", "super_glue/cb:1.0.2"),
    "cnn_dailymail": Source(
        "abisee/cnn_dailymail",
        "3.0.0",
        "train",
        "text=article highlights",
        "cnn_dailymail:3.4.0",
        "Hub config 3.0.0 and TFDS 3.4.0 are both the non-anonymized text",
    ),
    "cola": Source(GLUE, "cola", "train", "sentence label", "glue/cola:2.0.0"),
    "common_gen": Source(
        "GEM/common_gen",
        "",
        "train",
        "concepts target references",
        "gem/common_gen:1.1.0",
        GEM_NOTE,
    ),
    "copa": Source(
        SUPER_GLUE,
        "copa",
        "train",
        "premise question choice1 choice2 label",
        "super_glue/copa:1.0.2",
    ),
    "coqa": Source(
        "stanfordnlp/coqa",
        "",
        "train",
        "text=story questions answers=answers.input_text",
        "coqa:1.0.0",
    ),
    "cosmos_qa": Source(
        "allenai/cosmos_qa",
        "",
        "train",
        "context question answer0 answer1 answer2 answer3 label",
        "cosmos_qa:1.0.0",
    ),
    "dart": Source(
        "GEM/dart", "", "train", "tripleset target references", "gem/dart:1.1.0", GEM_NOTE
    ),
    "definite_pronoun_resolution": Source(
        "community-datasets/definite_pronoun_resolution",
        "plain_text",
        "train",
        "sentence pronoun candidates label",
        "definite_pronoun_resolution:1.1.0",
    ),
    "drop": Source(
        "ucinlp/drop",
        "",
        "train",
        "context=passage question answer=answers_spans.spans",
        "drop:2.0.0",
        "the Hub gives a list of answer spans, TFDS a single answer string",
    ),
    "e2e_nlg": Source(
        "GEM/e2e_nlg",
        "",
        "train",
        "meaning_representation target references",
        "gem/e2e_nlg:1.1.0",
        GEM_NOTE,
    ),
    "fix_punct": _para_crawl_en("30200-60200", "punctuation removed"),
    "gigaword": Source(
        "Harvard/gigaword",
        "",
        "train",
        "text=document summary",
        "gigaword:1.2.0",
        "Flan drops rows containing UNK or #; script-based Hub repo",
    ),
    "glue_mrpc": Source(GLUE, "mrpc", "train", "sentence1 sentence2 label", "glue/mrpc:2.0.0"),
    "glue_qqp": Source(GLUE, "qqp", "train", "question1 question2 label", "glue/qqp:2.0.0"),
    "hellaswag": Source(
        "Rowan/hellaswag",
        "",
        "train",
        "context=ctx options=endings activity_label label",
        "hellaswag:1.1.0",
        "Hub label is a string",
    ),
    "imdb_reviews": Source(
        "stanfordnlp/imdb", "plain_text", "train", "text label", "imdb_reviews/plain_text:1.0.0"
    ),
    "lambada": Source(
        "cimec/lambada",
        "plain_text",
        "validation",
        "passage=text",
        "lambada:1.0.0",
        "Flan's TFDS train split (4,869 passages) is the LAMBADA dev set, i.e. the Hub "
        "validation split; Flan cuts the last word off as the answer",
    ),
    "math_dataset": Source(
        "deepmind/math_dataset",
        "algebra__linear_1d",
        "train",
        "question answer",
        "math_dataset/algebra__linear_1d:1.0.0",
        "generated by DeepMind's mathematics generator; script-based Hub repo",
    ),
    "mnli_matched": Source(
        GLUE,
        "mnli",
        "train",
        "premise hypothesis label",
        "glue/mnli:2.0.0",
        "same train data as mnli_mismatched (they differ only in the eval split); "
        "listed as mnli in flan_collection_info.csv",
    ),
    "mnli_mismatched": Source(
        GLUE,
        "mnli",
        "train",
        "premise hypothesis label",
        "glue/mnli:2.0.0",
        "same train data as mnli_matched (they differ only in the eval split); "
        "listed as mnli in flan_collection_info.csv",
    ),
    "multi_news": Source(
        "alexfabbri/multi_news", "", "train", "text=document summary", "multi_news:1.0.0"
    ),
    "multirc": Source(
        SUPER_GLUE,
        "multirc",
        "train",
        "paragraph question response=answer label",
        "super_glue/multirc:1.0.2",
    ),
    "natural_questions": Source(
        "google-research-datasets/nq_open",
        "nq_open",
        "train",
        "question answer",
        "natural_questions_open:1.0.0",
        "NQ-Open (question and answer list), not the full natural_questions; Flan adds '?' "
        "and trains on the first answer",
    ),
    "newsroom": Source(
        "lil-lab/newsroom",
        "",
        "train",
        "text title summary",
        "newsroom:1.0.0",
        "manual download: the data must be requested from Cornell and passed as data_dir",
    ),
    "openbookqa": Source(
        "allenai/openbookqa",
        "additional",
        "train",
        "question=question_stem fact=fact1 options=choices.text label=answerKey",
        "openbookqa:0.1.0",
        "fact1 is only in the additional config",
    ),
    "opinion_abstracts_idebate": _tfds(
        "opinion_abstracts",
        "idebate",
        "1.0.0",
        "claim=_claim debate_name=_debate_name argument_sentences=_argument_sentences.value",
        "TFDS-only; no Hub mirror known (Wang and Ling 2016 opinion summaries); "
        "Flan trains on train[:-600]",
    ),
    "opinion_abstracts_rotten_tomatoes": _tfds(
        "opinion_abstracts",
        "rotten_tomatoes",
        "1.0.0",
        "critic_consensus=_critic_consensus movie=_movie_name numbered_reviews=_critics.value",
        "TFDS-only; no Hub mirror known (Wang and Ling 2016 opinion summaries); "
        "Flan trains on train[:-600]",
    ),
    "para_crawl_enes": Source(
        PARA_CRAWL,
        "enes",
        "train",
        "sent1=translation.en sent2=translation.es",
        "para_crawl/enes:1.2.0",
        "Flan uses the first 30,000 pairs; script-based Hub repo",
    ),
    "paws_wiki": Source(
        "google-research-datasets/paws",
        "labeled_final",
        "train",
        "sentence1 sentence2 label",
        "paws_wiki:1.1.0",
        "TFDS default config is labeled_final_tokenized",
    ),
    "piqa": Source(
        "ybisk/piqa",
        "",
        "train",
        "goal sol1 sol2 label",
        "piqa:1.0.0",
        "script-based Hub repo",
    ),
    "qnli": Source(GLUE, "qnli", "train", "question sentence label", "glue/qnli:2.0.0"),
    "quac": Source(
        "allenai/quac",
        "",
        "train",
        "title=wikipedia_page_title background context question=questions "
        "answer=orig_answers.texts",
        "quac:1.0.0",
        "Hub rows are whole dialogues with per-turn lists; TFDS rows (Flan's) are single "
        "turns; Flan strips CANNOTANSWER",
    ),
    "record": Source(
        SUPER_GLUE,
        "record",
        "train",
        "passage query entities answers",
        "super_glue/record:1.0.2",
    ),
    "rte": Source(SUPER_GLUE, "rte", "train", "premise hypothesis label", "super_glue/rte:1.0.2"),
    "samsum": Source(
        "Samsung/samsum",
        "",
        "train",
        "dialogue summary",
        "samsum:1.0.0",
        "script-based Hub repo (needs py7zr)",
    ),
    "sentiment140": Source(
        "stanfordnlp/sentiment140",
        "",
        "train",
        "text polarity=sentiment",
        "sentiment140:1.0.0",
        "Flan calls polarity 3 or 4 positive; script-based Hub repo",
    ),
    "snli": Source(
        "stanfordnlp/snli",
        "",
        "train",
        "premise hypothesis label",
        "snli:1.1.0",
        "Flan drops rows with label -1",
    ),
    "squad_v1": Source(
        "rajpurkar/squad",
        "plain_text",
        "train",
        "title context question answers=answers.text",
        "squad/v1.1:3.0.0",
    ),
    "squad_v2": Source(
        "rajpurkar/squad_v2",
        "squad_v2",
        "train",
        "title context question answers=answers.text",
        "squad/v2.0:3.0.0",
        "questions without answers get the target 'unanswerable'",
    ),
    "sst2": Source(GLUE, "sst2", "train", "sentence label", "glue/sst2:2.0.0"),
    "story_cloze": Source(
        "LSDSem/story_cloze",
        "2016",
        "validation",
        "context=input_sentence_1,input_sentence_2,input_sentence_3,input_sentence_4 "
        "options=sentence_quiz1,sentence_quiz2 label=answer_right_ending",
        "story_cloze/2016:1.0.0",
        "manual download (data_dir); there is no labelled train split, so Flan trains on "
        "validation[:-200]",
    ),
    "stsb": Source(GLUE, "stsb", "train", "sentence1 sentence2 label", "glue/stsb:2.0.0"),
    "trec": Source(
        "CogComp/trec",
        "",
        "train",
        "text label-coarse=coarse_label",
        "trec:1.0.0",
        "script-based Hub repo",
    ),
    "trivia_qa": Source(
        "mandarjoshi/trivia_qa",
        "rc",
        "train",
        "question answer=answer.normalized_value answers=answer.normalized_aliases",
        "trivia_qa/rc:1.1.0",
    ),
    "true_case": _para_crawl_en("0-30000", "lower-cased input"),
    "unified_qa_science_inst": _tfds(
        "unified_qa",
        "ai2_science_middle",
        "1.0.0",
        "",
        "TFDS-only: UnifiedQA's copy of the AI2 middle-school science questions; Flan filters "
        "and re-parses UnifiedQA's input string; no Hub mirror known; columns not mapped",
    ),
    "web_nlg_en": Source(
        "GEM/web_nlg",
        "en",
        "train",
        "input_string=input target references",
        "gem/web_nlg_en:1.1.0",
        GEM_NOTE,
    ),
    "wic": Source(
        SUPER_GLUE, "wic", "train", "sentence1 sentence2 word label", "super_glue/wic:1.0.2"
    ),
    "wiki_lingua_english_en": Source(
        "GEM/wiki_lingua",
        "en",
        "train",
        "source target",
        "gem/wiki_lingua_english_en:1.1.0",
        "Flan read GEM v1 (english_en); the Hub repo now serves GEM v2 (cleaned), so rows may "
        "differ; script-based Hub repo",
    ),
    "winogrande": Source(
        "allenai/winogrande",
        "winogrande_xl",
        "train",
        "sentence option1 option2 label=answer",
        "winogrande:1.1.0",
        "Flan reads TFDS train_xl; Hub answer is '1'/'2', TFDS label 0/1",
    ),
    "wmt14_enfr": _wmt("14", "fr-en", "fr"),
    "wmt16_translate_csen": _wmt("16", "cs-en", "cs"),
    "wmt16_translate_deen": _wmt("16", "de-en", "de"),
    "wmt16_translate_fien": _wmt("16", "fi-en", "fi"),
    "wmt16_translate_roen": _wmt("16", "ro-en", "ro"),
    "wmt16_translate_ruen": _wmt("16", "ru-en", "ru"),
    "wmt16_translate_tren": _wmt("16", "tr-en", "tr"),
    "wnli": Source(GLUE, "wnli", "train", "sentence1 sentence2 label", "glue/wnli:2.0.0"),
    "word_segment": _para_crawl_en("60400-90400", "spaces removed"),
    "wsc": Source(
        SUPER_GLUE,
        "wsc.fixed",
        "train",
        "context=text,span2_index,span2_text text1=span1_text text2=span2_text label",
        "super_glue/wsc.fixed:1.0.2",
        "Flan marks the pronoun in text with asterisks",
    ),
    "xsum": Source(
        "EdinburghNLP/xsum",
        "",
        "train",
        "text=document summary",
        "huggingface:xsum",
        "Flan already read the Hub copy, through TFDS's huggingface: bridge",
    ),
    "yelp_polarity_reviews": Source(
        "fancyzhx/yelp_polarity",
        "plain_text",
        "train",
        "text label",
        "yelp_polarity_reviews:0.2.0",
    ),
}

# P3 subtask prefix -> the promptsource dataset (and subset) it renders; longest prefix wins.
T0_DATASETS: dict[str, str] = {
    "adversarial_qa_dbert": "adversarial_qa/dbert",
    "adversarial_qa_dbidaf": "adversarial_qa/dbidaf",
    "adversarial_qa_droberta": "adversarial_qa/droberta",
    "amazon_polarity": "amazon_polarity",
    "app_reviews": "app_reviews",
    "cos_e_v1.11": "cos_e/v1.11",
    "dbpedia_14": "dbpedia_14",
    "dream": "dream",
    "duorc_ParaphraseRC": "duorc/ParaphraseRC",
    "duorc_SelfRC": "duorc/SelfRC",
    "kilt_tasks_hotpotqa": "kilt_tasks/hotpotqa",
    "qasc": "qasc",
    "quail": "quail",
    "quarel": "quarel",
    "quartz": "quartz",
    "quoref": "quoref",
    "race_high": "race/high",
    "race_middle": "race/middle",
    "ropes": "ropes",
    "sciq": "sciq",
    "social_i_qa": "social_i_qa",
    "web_questions": "web_questions",
    "wiki_bio": "wiki_bio",
    "wiki_hop_original": "wiki_hop/original",
    "wiki_qa": "wiki_qa",
    "wiqa": "wiqa",
}
P3_COLUMNS = "inputs=inputs_pretokenized targets=targets_pretokenized"

# Flan CoT dataset name -> file stem in flan/v2/cot_data/ (<stem>_train.tsv).
COT_FILES: dict[str, str] = {
    "cot_creak": "creak",
    "cot_ecqa": "ecqa",
    "cot_esnli": "esnli",
    "cot_gsm8k": "gsm8k",
    "cot_qasc": "qasc",
    "cot_sensemaking": "sensemaking",
    "cot_strategyqa": "strategyqa",
    "stream_aqua": "aqua",
    "stream_qed": "qed",
}

DIALOG: dict[str, Source] = {
    "qrecc": Source(
        "svakulenk0/qrecc",
        "",
        "train",
        "Conversation_no Turn_no Question Answer",
        "q_re_cc:1.0.0",
        "Hub copy by a QReCC author (qrecc-training.json); the columns flanmix's `style: qrecc` "
        "reads (turns with Turn_no > 6 become targets)",
    ),
    "wiki_dialog": Source(
        "tfds:wiki_dialog",
        "OQ",
        "train",
        "title passage utterances author_num",
        "wiki_dialog:1.0.0",
        "TFDS-only; no Hub mirror known; raw JSONL at https://storage.googleapis.com/"
        "gresearch/dialog-inpainting/WikiDialog_OQ/ (data_train.jsonl-000NN-of-00099.gz); "
        "Flan reads the default OQ config",
        "1.0.0",
    ),
}


def _fail(message: str) -> NoReturn:
    raise SystemExit(f"make_registry: {message}")


def _check_same(what: str, table: Iterable[str], inventory: Iterable[str]) -> None:
    missing = sorted(set(inventory) - set(table))
    extra = sorted(set(table) - set(inventory))
    if missing or extra:
        _fail(f"{what}: not in the table {missing}; not in the inventory {extra}")


def base_tasks(data: Path) -> dict[str, list[str]]:
    """Collection -> sorted base tasks of mixture_rates.csv (no inversions, no T0 prefix)."""
    found: dict[str, set[str]] = {name: set() for name in SUBMIX.values()}
    with open(data / "flan_v2" / "mixture_rates.csv", encoding="utf-8", newline="") as f:
        for record in csv.DictReader(f):
            collection = SUBMIX.get(record["submix"])
            task = record["base_task"]
            if collection is None or INVERSION in task:
                continue
            if collection == "t0":
                if not task.startswith(T0_PREFIX):
                    _fail(f"T0 base task without the {T0_PREFIX!r} prefix: {task}")
                task = task[len(T0_PREFIX) :]
            found[collection].add(task)
    return {name: sorted(tasks) for name, tasks in found.items()}


def niv2_train_tasks(data: Path) -> list[str]:
    """The official NIv2 train tasks minus the MMLU-derived ones, sorted."""
    text = (data / "niv2" / "splits" / "default" / "train_tasks.txt").read_text(encoding="utf-8")
    tasks = [line.strip() for line in text.splitlines() if line.strip()]
    unnumbered = [t for t in tasks if task_number(t) is None]
    if unnumbered:
        _fail(f"NIv2 task name without a task id: {unnumbered[0]}")
    return sorted(t for t in tasks if not is_mmlu_task(t))


@dataclass(frozen=True)
class CotSnapshot:
    commit: str
    sha256: dict[str, str]  # file stem -> sha256 listed in SOURCE.md
    rows: dict[str, str]  # file stem -> row count, as written in SOURCE.md


def read_source_md(data: Path) -> CotSnapshot:
    text = (data / "flan_v2" / "SOURCE.md").read_text(encoding="utf-8")
    commit = re.search(r"Commit: `([0-9a-f]{40})`", text)
    if commit is None:
        _fail("no `Commit: <40 hex>` line in flan_v2/SOURCE.md")
    sha256: dict[str, str] = {}
    rows: dict[str, str] = {}
    listed = re.finditer(
        r"^\| cot_data/(\w+)_train\.tsv \| [^|]+ \| (\d+) \| \d+ \| ([0-9a-f]{64}) \|$",
        text,
        re.MULTILINE,
    )
    for match in listed:
        sha256[match.group(1)] = match.group(3)
        rows[match.group(1)] = f"{int(match.group(2)):,}"
    absent = re.finditer(r"cot_data/(\w+)_train\.tsv` \(blob \w+, [a-z ]*?([\d,]+) lines\)", text)
    for match in absent:
        rows.setdefault(match.group(1), match.group(2))
    return CotSnapshot(commit.group(1), sha256, rows)


def collection_info_names(data: Path) -> dict[str, str]:
    """CoT file stem -> Flan's dataset name in flan_collection_info.csv (e.g. stream_creak)."""
    names: dict[str, str] = {}
    with open(data / "flan_v2" / "flan_collection_info.csv", encoding="utf-8", newline="") as f:
        for record in csv.DictReader(f):
            if record["Source"] == "CoT":
                names[record["Dataset"].split("_", 1)[1]] = record["Dataset"]
    return names


def hub_row(collection: str, task: str, source: Source, kind: str = "hub") -> Row:
    return Row(
        collection,
        task,
        kind,
        source.location,
        source.config,
        source.split,
        source.revision,
        "unverified",
        "",
        source.columns,
        source.upstream,
        source.notes,
    )


def t0_row(subtask: str) -> Row:
    prefixes = [p for p in T0_DATASETS if subtask.startswith(p + "_")]
    if not prefixes:
        _fail(f"T0 subtask with no dataset prefix in T0_DATASETS: {subtask}")
    prefix = max(prefixes, key=len)
    prompt = subtask[len(prefix) + 1 :]
    notes = f"P3 prompt {prompt} over promptsource dataset {T0_DATASETS[prefix]}"
    source = Source(
        P3_REPO, subtask, "train", P3_COLUMNS, f"huggingface:bigscience__p3/{subtask}", notes
    )
    return hub_row("t0", subtask, source)


def niv2_row(task: str) -> Row:
    notes = ""
    if "pubmedqa" in task:
        notes = "PubMedQA-derived: trained on here although PubMedQA is a Flan held-out eval"
    return Row(
        "niv2",
        task,
        "niv2",
        NIV2_REPO,
        "",
        "train",
        "master",
        "yes",
        "",
        "definition input output",
        f"tasks/{task}.json",
        notes,
    )


def cot_row(task: str, data: Path, snapshot: CotSnapshot, flan_names: dict[str, str]) -> Row:
    stem = COT_FILES[task]
    file = f"{stem}_train.tsv"
    listed = snapshot.sha256.get(stem, "")
    local = data / "flan_v2" / "cot_data" / file
    verified = bool(listed) and local.is_file() and file_sha256(str(local)) == listed
    notes = []
    count = snapshot.rows.get(stem)
    if verified:
        notes.append(f"{count} rows" if count else "")
    elif listed:
        notes.append("sha256 from SOURCE.md does not match the local copy")
    else:
        declared = f" (upstream declares {count} lines)" if count else ""
        notes.append(f"sha256 unknown: file absent from the offline snapshot{declared}")
    notes.append("headerless TSV: question, answer, rationale")
    flan_name = flan_names.get(stem)
    if flan_name and flan_name != task:
        notes.append(f"named {flan_name} in flan_collection_info.csv")
    return Row(
        "cot",
        task,
        "cot",
        FLAN_RAW.format(commit=snapshot.commit, file=file),
        "",
        "train",
        snapshot.commit,
        "yes" if verified else "unverified",
        listed if verified else "",
        "question answer rationale",
        f"flan/v2/cot_data/{file}",
        "; ".join(n for n in notes if n),
    )


def build_rows(data: Path) -> list[Row]:
    tasks = base_tasks(data)
    _check_same("flan2021 tasks", FLAN2021, tasks["flan2021"])
    _check_same("cot tasks", COT_FILES, tasks["cot"])
    _check_same("dialog tasks", DIALOG, tasks["dialog"])
    snapshot = read_source_md(data)
    flan_names = collection_info_names(data)

    rows = [hub_row("flan2021", task, FLAN2021[task]) for task in tasks["flan2021"]]
    rows += [t0_row(task) for task in tasks["t0"]]
    rows += [niv2_row(task) for task in niv2_train_tasks(data)]
    rows += [cot_row(task, data, snapshot, flan_names) for task in tasks["cot"]]
    rows += [hub_row("dialog", task, DIALOG[task], kind="dialog") for task in tasks["dialog"]]
    rows.sort(key=lambda r: (COLLECTIONS.index(r.collection), r.task))
    keys = [(r.collection, r.task) for r in rows]
    if len(set(keys)) != len(keys):
        _fail("duplicate (collection, task) rows")
    return rows


def write_csv(rows: list[Row], out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(to_csv(rows), encoding="utf-8", newline="")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--out", type=Path, default=OUT, help=f"CSV to write (default: {OUT})")
    parser.add_argument(
        "--data", type=Path, default=DATA, help=f"shared data folder (default: {DATA})"
    )
    args = parser.parse_args(argv)
    if not args.data.is_dir():
        _fail(f"{args.data} is absent: the registry is generated from the shared Flan/NIv2 data")
    rows = build_rows(args.data)
    write_csv(rows, args.out)
    counts = ", ".join(f"{c} {sum(r.collection == c for r in rows)}" for c in COLLECTIONS)
    verified = sum(r.verified == "yes" for r in rows)
    print(f"wrote {args.out}: {len(rows)} rows ({counts}); {verified} verified")


if __name__ == "__main__":
    main()
