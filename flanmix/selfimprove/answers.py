"""Final answers out of sampled completions, and the normal forms votes compare.

A completion's answer is the last match of the answer pattern (models often restate the
question's numbers before concluding). What comes before that match is its rationale.
Normal forms: `number` compares values (units, currency signs and thousands separators
stripped; 72, 72.0 and $72 are one answer), `text` compares case-folded words without
punctuation or articles, `choice` compares option letters ((B), b), B. are one answer).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

# The answer runs to the end of its sentence (a full stop before a space or the line's end:
# "$1,200.50" keeps its decimal point) or of the line.
ANSWER_PATTERN = r"[Tt]he answer is:?\s*(.+?)\s*(?:\.(?=\s|$)|$)"
KINDS = ("number", "text", "choice")

_NUMBER = re.compile(r"-?(?:\d+(?:\.\d+)?|\.\d+)(?:[eE][-+]?\d+)?")
_CURRENCY = re.compile(r"[$€£¥]")
_GROUPED = re.compile(r"(?<=\d)[, ](?=\d{3}(?!\d))")  # 1,200 and 1 200, not 3 1/2
_LETTER = re.compile(r"^\(?([A-Za-z])(?:[).:]|\s|$)")
_ARTICLES = {"a", "an", "the"}


@dataclass(frozen=True)
class Extracted:
    """An answer as written, its normal form (None when it has none), and the rationale."""

    raw: str
    normal: str | None
    rationale: str


def compile_pattern(pattern: str) -> re.Pattern[str]:
    """The answer pattern: group 1 (or the whole match) is the answer. Multi-line, so `$`
    ends a line and the last line that concludes is found."""
    try:
        compiled = re.compile(pattern, re.MULTILINE)
    except re.error as e:
        raise ValueError(f"the answer pattern {pattern!r} is not a valid regex: {e}") from None
    if compiled.groups > 1:
        raise ValueError(
            f"the answer pattern {pattern!r} has {compiled.groups} groups; use one group "
            "around the answer, and (?:…) for the others"
        )
    return compiled


def normalize(answer: str, kind: str) -> str | None:
    """The form votes compare; None when the answer has none (no number, no letter)."""
    if kind == "number":
        text = _CURRENCY.sub("", answer.replace("\u2212", "-"))  # -$5 is -5
        text = re.sub(r"-\s+(?=[\d.])", "-", _GROUPED.sub("", text))
        m = _NUMBER.search(text)
        if not m:
            return None
        try:
            value = Decimal(m.group())
        except InvalidOperation:
            return None
        return format(value.normalize(), "f") if value != 0 else "0"
    if kind == "choice":
        m = _LETTER.match(answer.strip())
        return m.group(1).upper() if m else None
    words = [w for w in re.findall(r"[^\W_]+", answer.casefold()) if w not in _ARTICLES]
    return " ".join(words) or None


def _answer(m: re.Match[str]) -> str:
    return (m.group(1) if m.re.groups else m.group()).strip()


_SENTENCE_END = re.compile(r"[.!?:;)\]](?=\s|$)|\n")


def extract(completion: str, pattern: re.Pattern[str], kind: str) -> Extracted | None:
    """The completion's last answer, or None when the pattern never matches. A completion
    that concludes twice with different answers has no answer (normal form None). The
    rationale is the text before the first conclusion, cut back to the end of its last
    sentence ("… = 72. So the answer is 72." gives "… = 72.")."""
    matches = list(pattern.finditer(completion))
    if not matches:
        return None
    m = matches[-1]
    raw = _answer(m)
    normal = normalize(raw, kind)
    if any(normalize(_answer(e), kind) != normal for e in matches[:-1]):
        normal = None
    before = completion[: matches[0].start()]  # an agreeing restatement is not reasoning
    ends = [e.end() for e in _SENTENCE_END.finditer(before)]
    rationale = (before[: ends[-1]] if ends else before).strip()
    return Extracted(raw, normal, rationale)
