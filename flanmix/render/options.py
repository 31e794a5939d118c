"""How answer options appear in a prompt: Flan 2021's fixed list or Flan 2022's seeded variety.

With the random style each example draws a start string, an item-marker family and an end
string. Enumerating markers ((A), [1], (i), ...) can also stand in for the answer in the
target, as Flan does for such markers.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from flanmix.hashing import HashRandom

# Our own candidate lists (Flan 2022 uses lists of the same kind).
STARTS = (
    "OPTIONS:",
    "Options:",
    "Choose from:",
    "Pick one:",
    "Possible answers:",
    "Available choices:",
    "Select an answer:",
    "Answer choices:",
    "",
)
ENDS = ("", ".", ";")


def _letter(i: int) -> str:
    return chr(ord("A") + i) if i < 26 else f"A{i}"


def _roman(i: int) -> str:
    numerals = ((10, "x"), (9, "ix"), (5, "v"), (4, "iv"), (1, "i"))
    n, out = i + 1, ""
    for value, text in numerals:
        while n >= value:
            out, n = out + text, n - value
    return out


@dataclass(frozen=True)
class MarkerFamily:
    """Item i is shown as `before + label(i) + after + option`; `label` is None for bullets."""

    before: str
    after: str
    label: Callable[[int], str] | None = None

    def marker(self, i: int) -> str:
        return self.before + (self.label(i) if self.label else "") + self.after

    @property
    def enumerates(self) -> bool:
        return self.label is not None


MARKERS = (
    MarkerFamily("\n- ", ""),
    MarkerFamily("\n* ", ""),
    MarkerFamily("\n+ ", ""),
    MarkerFamily("\n(", ") ", _letter),
    MarkerFamily("\n", ". ", _letter),
    MarkerFamily("\n(", "). ", _letter),
    MarkerFamily("\n[", "] ", lambda i: str(i + 1)),
    MarkerFamily("\n", ") ", lambda i: str(i + 1)),
    MarkerFamily(" (", ") ", _roman),
    MarkerFamily("\n(", ") ", _roman),
)
FIXED = MarkerFamily("\n- ", "")


@dataclass(frozen=True)
class OptionsStyle:
    start: str
    markers: MarkerFamily
    end: str

    def block(self, options: list[str]) -> str:
        items = "".join(self.markers.marker(i) + o for i, o in enumerate(options))
        return (self.start + items + self.end).lstrip("\n ")

    def target_marker(self, options: list[str], target: str) -> str | None:
        """The marker that stands for `target`, when the markers enumerate and it is an option."""
        if not self.markers.enumerates or target not in options:
            return None
        return self.markers.marker(options.index(target)).strip()


FIXED_STYLE = OptionsStyle("OPTIONS:", FIXED, "")


def draw_style(rng: HashRandom) -> OptionsStyle:
    return OptionsStyle(rng.choice(STARTS), rng.choice(MARKERS), rng.choice(ENDS))
