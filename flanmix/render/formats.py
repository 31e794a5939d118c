"""Formats: how a template type turns an options list into (or out of) the prompt.

`*_opt` types show the answer options where the template puts `{{ options_ }}`; `*_noopt`
types render the same template with the placeholder and the whitespace that separates it from
the text before it removed. Few-shot formats compose these per exemplar (render/fewshot.py).
"""

from __future__ import annotations

import re

from flanmix.render.options import FIXED_STYLE, OptionsStyle

# A private-use code point marks where the options go, so removal never touches real text.
OPTIONS_MARK = "\ue000options\ue000"
_WITH_SPACE_BEFORE = re.compile(r"\s*" + re.escape(OPTIONS_MARK))
_AT_START = re.compile(r"^" + re.escape(OPTIONS_MARK) + r"\s*")


def options_block(options: list[str], style: OptionsStyle = FIXED_STYLE) -> str:
    return style.block(options)


def fill_options(
    text: str, options: list[str], show: bool, style: OptionsStyle = FIXED_STYLE
) -> str:
    """Replace the options mark with the block (show) or remove it with its separator."""
    if OPTIONS_MARK not in text:  # the template has no options placeholder
        return text
    if show and options:
        return text.replace(OPTIONS_MARK, options_block(options, style))
    text = _AT_START.sub("", text)
    return _WITH_SPACE_BEFORE.sub("", text)


def shows_options(template_type: str) -> bool:
    return template_type.split("+")[0].endswith("_opt")
