"""Pydantic models of mixture and template files. Unknown keys are rejected with a suggestion."""

from __future__ import annotations

import difflib
import re
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    field_validator,
    model_validator,
)

TEMPLATE_TYPES = ("zs_opt", "zs_noopt", "fs_opt", "fs_noopt")
# Few-shot types are part of the vocabulary but need the few-shot renderer to be built.
RENDERABLE_TEMPLATE_TYPES = TEMPLATE_TYPES
FEWSHOT_FORMATS = ("template_mix", "x_shot")
FILE_KINDS = ("jsonl", "parquet", "csv", "tsv")
SOURCE_KINDS = (*FILE_KINDS, "niv2", "cot", "dialog", "hub")
EPOCH_RULES = ("first_exhausted", "all", "total")


def did_you_mean(word: str, options: list[str] | tuple[str, ...]) -> str:
    close = difflib.get_close_matches(word, list(options), n=1, cutoff=0.6)
    if close:
        return f"did you mean '{close[0]}'?"
    return "valid: " + ", ".join(sorted(options))


class StrictModel(BaseModel):
    """Frozen model that names the closest valid key when it meets an unknown one."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    @model_validator(mode="before")
    @classmethod
    def _known_keys(cls, data: Any) -> Any:
        if isinstance(data, dict):
            allowed = list(cls.model_fields)
            for key in data:
                if key not in allowed:
                    raise ValueError(f"unknown key '{key}'; {did_you_mean(str(key), allowed)}")
        return data


def _positive(value: float, what: str) -> float:
    if not value > 0:
        raise ValueError(f"{what} must be > 0, got {value}")
    return value


class ProportionalRate(StrictModel):
    """seqio's mixing_rate_num_examples: n -> min(n * scale, cap) -> ** (1 / temperature)."""

    rule: Literal["proportional"] = "proportional"
    cap: int | None = None
    scale: float = 1.0
    temperature: float = 1.0

    @field_validator("cap")
    @classmethod
    def _cap(cls, v: int | None) -> int | None:
        if v is not None and v < 1:
            raise ValueError(f"cap must be >= 1, got {v} (leave it out for no cap)")
        return v

    @field_validator("scale", "temperature")
    @classmethod
    def _pos(cls, v: float, info: Any) -> float:
        return _positive(v, info.field_name)


class FixedRate(StrictModel):
    """A constant rate, independent of the task's size."""

    rule: Literal["fixed"]
    value: float

    @field_validator("value")
    @classmethod
    def _pos(cls, v: float) -> float:
        return _positive(v, "a fixed rate")


def _rate_shorthand(v: Any) -> Any:
    """`rate: 2.5` means a fixed rate; a mapping without `rule` is proportional."""
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return {"rule": "fixed", "value": v}
    if isinstance(v, dict) and "rule" not in v:
        return {"rule": "proportional", **v}
    if isinstance(v, dict) and v["rule"] not in ("proportional", "fixed"):
        rule = str(v["rule"])
        raise ValueError(
            f"unknown rate rule '{rule}'; {did_you_mean(rule, ['proportional', 'fixed'])}"
        )
    return v


Rate = Annotated[ProportionalRate | FixedRate, Field(discriminator="rule")]


class SourceSpec(StrictModel):
    """Where a task's records come from and what shape they have.

    `kind` is the shape: jsonl, parquet, csv, tsv (files read where they are); niv2 (a
    Super-NaturalInstructions task file), cot (Flan's question/answer/rationale TSV), dialog
    (conversations cut into one context → next-turn example each) and hub (a Hub dataset's
    Parquet files). The location is one of `path` (a local path or fsspec URL, globs allowed;
    relative paths resolve against the mixture's root), `url` (HTTP(S), pinned by `sha256`) or
    `repo_id` (a Hub dataset repo). Everything but files read in place is fetched once into a
    Parquet snapshot (sources/snapshot.py) that the build reads.
    """

    kind: str
    path: str | None = None
    url: str | None = None
    sha256: str | None = None
    repo_id: str | None = None
    config: str | None = None
    split: str = "train"
    revision: str = "main"
    data_files: list[str] | None = None  # globs inside a Hub repo, when its layout is unusual
    format: Literal["jsonl", "parquet", "csv", "tsv"] | None = None  # of a url/dialog file
    rename: dict[str, str] = Field(default_factory=dict)  # source column -> field name
    filter: dict[str, Any] = Field(default_factory=dict)  # field -> kept value or values
    id_field: str | None = None
    columns: list[str] | None = None
    header: bool = False
    unescape: bool = False
    task: str | None = None  # niv2: the task file's stem inside an archive or Hub mirror
    outputs: Literal["first", "all"] = "first"  # niv2: instances with several outputs
    style: Literal["wiki_dialog", "qrecc"] | None = None  # dialog

    @field_validator("kind")
    @classmethod
    def _kind(cls, v: str) -> str:
        if v not in SOURCE_KINDS:
            raise ValueError(f"unknown source kind '{v}'; {did_you_mean(v, SOURCE_KINDS)}")
        return v

    @field_validator("sha256")
    @classmethod
    def _sha256(cls, v: str | None) -> str | None:
        if v is not None and not re.fullmatch(r"[0-9a-f]{64}", v):
            raise ValueError(f"sha256 must be 64 lowercase hex digits, got '{v}'")
        return v

    @model_validator(mode="after")
    def _consistent(self) -> SourceSpec:
        where = [k for k in ("path", "url", "repo_id") if getattr(self, k)]
        if len(where) != 1:
            raise ValueError(
                "give a source exactly one of `path` (local or fsspec), `url` (with `sha256`) "
                f"or `repo_id` (a Hub dataset); got {', '.join(where) or 'none'}"
            )
        if self.kind == "hub" and not self.repo_id:
            raise ValueError("a hub source needs `repo_id` (e.g. nyu-mll/glue)")
        if self.repo_id and self.kind not in ("hub", "niv2", "dialog"):
            raise ValueError(f"`repo_id` is for hub, niv2 and dialog sources, not {self.kind}")
        if self.url and not self.sha256:
            raise ValueError(
                "a url source needs `sha256: <64 hex digits>` so a changed file is refused; "
                "compute it with `sha256sum` on a copy you trust"
            )
        if self.kind in ("csv", "tsv"):
            if not self.columns and not self.header:
                raise ValueError(
                    f"a {self.kind} source needs `columns: [...]` naming its fields, "
                    "or `header: true` if the first line holds the names"
                )
            if self.columns and len(set(self.columns)) != len(self.columns):
                raise ValueError(f"columns repeat a name: {self.columns}")
        elif self.columns or self.header or self.unescape:
            raise ValueError("`columns`, `header` and `unescape` apply to csv and tsv sources only")
        if self.kind == "dialog" and not self.style:
            raise ValueError("a dialog source needs `style: wiki_dialog` or `style: qrecc`")
        if self.kind != "dialog" and self.style:
            raise ValueError("`style` applies to dialog sources only")
        if self.kind == "niv2" and not self.path and not self.task:
            raise ValueError("a niv2 source from a url or repo_id needs `task: taskNNN_name`")
        return self

    @property
    def location(self) -> str:
        return self.path or self.url or str(self.repo_id)

    @property
    def in_place(self) -> bool:
        """Files read where they are by the workers; everything else goes through a snapshot."""
        return self.kind in FILE_KINDS and self.path is not None


def _known_formats(names: list[str]) -> list[str]:
    for name in names:
        if name not in FEWSHOT_FORMATS:
            raise ValueError(
                f"unknown few-shot format '{name}'; {did_you_mean(name, FEWSHOT_FORMATS)}"
            )
    return names


class FewShotSettings(StrictModel):
    """How a collection's few-shot leaves pick and fit their exemplars."""

    # Each few-shot template type gets one leaf per format: `template_mix` (every exemplar
    # with its own template) and `x_shot` (candidates filtered to the query's template).
    # A mapping sets them per type, e.g. {fs_opt: [template_mix, x_shot], fs_noopt: [x_shot]}.
    formats: list[str] | dict[str, list[str]] = ["template_mix"]
    shots: int = 5  # exemplars in the template mix
    candidates: int = 25  # candidates drawn for x-shot, of which those with the query's template
    budget: int = 1920  # tokens of query + exemplars (inputs and targets); Flan's 1,920
    tokenizer: str = "whitespace"  # whitespace | characters | tokenizer.json | *.model
    exemplar_pool: Literal["shared", "disjoint"] = "shared"  # disjoint: pool rows are no targets
    pool_size: int = 64  # per task, chosen by hash: bounded memory whatever the task's size
    # Exemplars never share this field's value with the query (self-improve paths of one
    # question: another path to the same question would give the answer away).
    group_field: str | None = None

    @field_validator("formats")
    @classmethod
    def _formats(cls, v: list[str] | dict[str, list[str]]) -> list[str] | dict[str, list[str]]:
        fewshot_types = [t for t in TEMPLATE_TYPES if t.startswith("fs_")]
        for key in v if isinstance(v, dict) else []:
            if key not in fewshot_types:
                raise ValueError(
                    f"few-shot formats are set for '{key}', which is not a few-shot template "
                    f"type; {did_you_mean(key, fewshot_types)}"
                )
        for names in v.values() if isinstance(v, dict) else [v]:
            if not names:
                raise ValueError(f"name at least one few-shot format: {', '.join(FEWSHOT_FORMATS)}")
            _known_formats(names)
        return v

    @model_validator(mode="after")
    def _pool_fits(self) -> FewShotSettings:
        # The query itself is never its own exemplar, hence the + 1.
        uses_x_shot = any("x_shot" in self.formats_for(t) for t in ("fs_opt", "fs_noopt"))
        needed = max(self.shots, self.candidates if uses_x_shot else 0) + 1
        if self.pool_size < needed:
            raise ValueError(
                f"pool_size {self.pool_size} is too small for shots {self.shots} and candidates "
                f"{self.candidates}; use pool_size >= {needed}"
            )
        return self

    def formats_for(self, template_type: str) -> list[str]:
        if isinstance(self.formats, dict):
            return self.formats.get(template_type, ["template_mix"])
        return self.formats

    @field_validator("shots", "candidates", "budget", "pool_size")
    @classmethod
    def _at_least_one(cls, v: int, info: Any) -> int:
        if v < 1:
            raise ValueError(f"{info.field_name} must be >= 1, got {v}")
        return v


class OptionsSettings(StrictModel):
    """How answer options are shown for *_opt template types."""

    # fixed: "OPTIONS:\n- a\n- b". random: a seeded start string, item markers and end string
    # per example, as Flan 2022 renders options.
    style: Literal["fixed", "random"] = "fixed"
    # With enumerating markers ((A), [1], (i), ...) a target equal to an option becomes its
    # marker, as Flan does.
    marker_targets: bool = False


class TaskSpec(StrictModel):
    templates: str
    source: SourceSpec
    inverted: bool = False  # use the family's inverted templates (and only those)
    optional: bool = False  # a source that cannot be had leaves the task out (and says so)
    rate: Rate | None = None
    license: str | None = None
    description: str | None = None

    _rate = field_validator("rate", mode="before")(classmethod(lambda cls, v: _rate_shorthand(v)))


class CollectionSpec(StrictModel):
    weight: float = 1.0
    task_source: str | None = None
    template_types: dict[str, float]
    rate: Rate = ProportionalRate()
    fewshot: FewShotSettings = FewShotSettings()
    options: OptionsSettings = OptionsSettings()
    tasks: dict[str, TaskSpec]

    _rate = field_validator("rate", mode="before")(classmethod(lambda cls, v: _rate_shorthand(v)))

    @field_validator("weight")
    @classmethod
    def _weight(cls, v: float) -> float:
        return _positive(v, "weight")

    @field_validator("template_types")
    @classmethod
    def _types(cls, v: dict[str, float]) -> dict[str, float]:
        if not v:
            raise ValueError("name at least one template type, e.g. {zs_opt: 1}")
        for name, weight in v.items():
            if name not in TEMPLATE_TYPES:
                raise ValueError(
                    f"unknown template type '{name}'; {did_you_mean(name, TEMPLATE_TYPES)}"
                )
            _positive(weight, f"the weight of template type '{name}'")
        return v

    @field_validator("tasks")
    @classmethod
    def _tasks(cls, v: dict[str, TaskSpec]) -> dict[str, TaskSpec]:
        if not v:
            raise ValueError("a collection needs at least one task")
        return v


class TotalEpoch(StrictModel):
    total: int
    repeats: bool = False

    @field_validator("total")
    @classmethod
    def _total(cls, v: int) -> int:
        if v < 1:
            raise ValueError(f"total must be >= 1, got {v}")
        return v


def _epoch_kind(v: Any) -> str:
    return "mapping" if isinstance(v, (dict, TotalEpoch)) else "rule"


Epoch = Annotated[
    Annotated[Literal["first_exhausted", "all"], Tag("rule")]
    | Annotated[TotalEpoch, Tag("mapping")],
    Discriminator(_epoch_kind),
]


def _epoch(v: Any) -> Any:
    if v == "total":
        raise ValueError("`total` needs a number of rows: write `epoch: {total: 1000}`")
    if isinstance(v, str) and v not in ("first_exhausted", "all"):
        raise ValueError(
            f"unknown epoch rule '{v}'; {did_you_mean(v, EPOCH_RULES)} "
            "(write `total: N` as a mapping: `epoch: {total: 1000}`)"
        )
    return v


DEDUP_SCOPES = ("none", "task", "mixture")


class EvalSetSpec(StrictModel):
    """A held-out evaluation set: training rows must not share its n-grams."""

    name: str
    source: SourceSpec
    fields: list[str] | None = None  # indexed fields; default: every string (or list) field

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", v):
            raise ValueError(f"an eval set name is letters, digits, '_', '.' or '-'; got '{v}'")
        return v


class DecontaminationSettings(StrictModel):
    """How training rows are checked against the eval sets (see hygiene/ngrams.py)."""

    n: int = 13  # words per n-gram, as in GPT-3's and datatrove's decontamination
    min_words: int = 8  # eval texts shorter than this are not indexed; n > length >= this: whole
    action: Literal["drop", "flag"] = "drop"

    @model_validator(mode="after")
    def _sizes(self) -> DecontaminationSettings:
        if not 1 <= self.min_words <= self.n:
            raise ValueError(
                f"need 1 <= min_words <= n, got min_words {self.min_words} and n {self.n}"
            )
        return self


class ExcludeSpec(StrictModel):
    """Tasks left out of this file's mixture (and of what it includes)."""

    tasks: list[str] = []  # task names, globs allowed (`task*_mmlu_*`)
    niv2_ids: list[int | str] = []  # NIv2 task numbers or ranges: 664, "685-737"
    datasets: list[str] = []  # source datasets, found in the task's name or source location

    @field_validator("niv2_ids")
    @classmethod
    def _ids(cls, v: list[int | str]) -> list[int | str]:
        for item in v:
            m = re.fullmatch(r"(\d+)(?:-(\d+))?", str(item).replace(" ", ""))
            if not m:
                raise ValueError(
                    f"a NIv2 task id is a number or a range like 685-737, got '{item}'"
                )
            if m.group(2) and int(m.group(2)) < int(m.group(1)):
                raise ValueError(f"the range '{item}' runs backwards; write it low-high")
        return v


class MixtureSpec(StrictModel):
    name: str
    description: str = ""
    seed: int = 0
    epoch: Epoch = "first_exhausted"
    root: str | None = None
    templates_dir: str | None = None
    include: dict[str, float] = {}
    collections: dict[str, CollectionSpec] = {}
    # keep only these template types, included mixtures too (e.g. a zero-shot-only variant)
    only_template_types: list[str] | None = None
    exclude: ExcludeSpec = ExcludeSpec()
    # Hygiene: set in the mixture you build (an included file's are refused, see spec/load.py).
    dedup: Literal["none", "task", "mixture"] = "none"  # exact duplicates of rendered rows
    decontaminate: list[str | EvalSetSpec] = []  # registry names or eval set definitions
    decontamination: DecontaminationSettings = DecontaminationSettings()

    _epoch = field_validator("epoch", mode="before")(classmethod(lambda cls, v: _epoch(v)))

    @field_validator("only_template_types")
    @classmethod
    def _known_types(cls, v: list[str] | None) -> list[str] | None:
        for name in v or []:
            if name not in TEMPLATE_TYPES:
                raise ValueError(
                    f"unknown template type '{name}'; {did_you_mean(name, TEMPLATE_TYPES)}"
                )
        return v

    @field_validator("include")
    @classmethod
    def _include(cls, v: dict[str, float]) -> dict[str, float]:
        for name, weight in v.items():
            _positive(weight, f"the weight of included mixture '{name}'")
        return v

    @model_validator(mode="after")
    def _not_empty(self) -> MixtureSpec:
        if not self.collections and not self.include:
            raise ValueError("a mixture needs `collections` or `include` (or both)")
        return self


class TemplateMetadata(StrictModel):
    original_task: bool = True
    choices_in_prompt: bool = False
    languages: list[str] = ["en"]


class FewShotPattern(StrictModel):
    """How exemplars and the query are laid out in a few-shot prompt (Flan's FewShotPattern).

    prompt = header; then for each exemplar: inputs_prefix + input + x_y_delimiter +
    targets_prefix + target + example_separator; then inputs_prefix + query input +
    x_y_delimiter + targets_prefix, with trailing whitespace removed (only trailing spaces, as
    Flan does, when the query's template has `strip: false`), placed into input_pattern
    ({inputs} and {final_suffix}). The template mix takes header, separator, input_pattern and
    final_suffix from the family's pattern and each exemplar's prefixes and delimiter from its
    own template; x-shot uses its template's separator with the default frame.
    """

    inputs_prefix: str = ""
    targets_prefix: str = ""
    x_y_delimiter: str = "\n\n"
    # One separator is drawn per task (seeded) when several are given, as Flan does.
    example_separator: list[str] = ["\n", "\n\n", "\n\n\n"]
    final_suffix: str = ""
    input_pattern: str = "{inputs}{final_suffix}"
    # Jinja rendered with the query's fields and put before the exemplars, e.g. NIv2's task
    # definition, stated once for the whole prompt.
    header: str = ""

    @field_validator("example_separator", mode="before")
    @classmethod
    def _one_or_many(cls, v: Any) -> Any:
        return [v] if isinstance(v, str) else v

    @field_validator("input_pattern")
    @classmethod
    def _pattern(cls, v: str) -> str:
        if "{{inputs}}" in v:
            raise ValueError(
                "input_pattern uses Flan's doubled braces {{inputs}}; write {inputs} (flanmix "
                "fills {inputs} and {final_suffix} once)"
            )
        if "{inputs}" not in v:
            raise ValueError("input_pattern must contain {inputs}")
        return v


class TemplateSpec(StrictModel):
    id: str
    input: str
    target: str
    answer_choices: list[str] | str | None = None
    types: list[str] = list(TEMPLATE_TYPES)
    metadata: TemplateMetadata = TemplateMetadata()
    # Inverted templates swap roles (e.g. write the question from the answer); tasks marked
    # `inverted: true` use only these, other tasks never do.
    inverted: bool = False
    fewshot: FewShotPattern | None = None  # overrides the family's pattern
    # Which few-shot formats may use the template (Flan keeps some out of the template mix).
    fewshot_formats: list[str] = list(FEWSHOT_FORMATS)
    # Rendered text is stripped of surrounding whitespace unless this is false (Flan's
    # templates rely on exact whitespace).
    strip: bool = True

    @field_validator("types")
    @classmethod
    def _types(cls, v: list[str]) -> list[str]:
        for name in v:
            if name not in TEMPLATE_TYPES:
                raise ValueError(
                    f"unknown template type '{name}'; {did_you_mean(name, TEMPLATE_TYPES)}"
                )
        return v

    @field_validator("fewshot_formats")
    @classmethod
    def _formats(cls, v: list[str]) -> list[str]:
        return _known_formats(v)


class FamilySpec(StrictModel):
    family: str
    description: str = ""
    # `promptsource`: variables are truncated to 2,048 characters and hyphens in field names
    # become underscores, as promptsource renders. Imported families set it.
    compat: Literal["promptsource"] | None = None
    fewshot: FewShotPattern = FewShotPattern()
    templates: list[TemplateSpec]

    @field_validator("templates")
    @classmethod
    def _unique(cls, v: list[TemplateSpec]) -> list[TemplateSpec]:
        if not v:
            raise ValueError("a template family needs at least one template")
        seen: set[str] = set()
        for i, t in enumerate(v):
            if t.id in seen:
                raise ValueError(
                    f"template id '{t.id}' appears twice (again at templates[{i}]); "
                    "ids must be unique"
                )
            seen.add(t.id)
        return v
