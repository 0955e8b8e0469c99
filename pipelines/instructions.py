"""One plain-English sentence -> an edit plan: what to select, how to repaint it, and the prompt.

    parse("replace the car with a red bus")  -> Plan(select="car", mode="replace", prompt="a red bus")
    parse("Please erase the person on the left.") -> Plan(select="person on the left", mode="remove", prompt="")
    parse("make the walls light blue")      -> Plan(select="walls", mode="recolour", prompt="light blue walls")

Pure string work (regular expressions), no model. The sentence is lower-cased (the diffusion models' CLIP
tokenizer lower-cases its text anyway), politeness ("please", "could you", "thanks") and end punctuation are
dropped, and a leading article is taken off the selection. The forms understood:

- remove:   remove / erase / delete / get rid of / take out / take away / clear / eliminate X
- replace:  replace X with Y; swap X for Y; change X to Y; turn X into Y; put Y where X is
- recolour: make / paint / colour / recolour / turn X <colour>; change X to <colour>; change the colour of X to <colour>

A sentence in none of these forms is a one-line UserError that names them.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass
from typing import Literal

from .errors import UserError

REMOVE_PROMPT = "empty background, clean seamless continuation of the surroundings, nothing there"
"""The app's background prompt for removals (a copy of editor.callbacks.REMOVE_PROMPT: pipelines never imports
editor)."""
REMOVE_NEGATIVE = "object, person, animal, text, watermark, frame, blurry"
"""The app's negative prompt for removals (a copy of editor.callbacks.REMOVE_NEGATIVE)."""

FORMS = "'remove the X', 'replace the X with Y', 'change the X to Y', 'put Y where the X is' or 'make the X <colour>'"

Mode = Literal["replace", "remove", "recolour"]


@dataclass(frozen=True)
class Plan:
    """What one instruction asks for.

    select  the object phrase to select, without a leading article ("car", "person on the left")
    mode    "replace", "remove" or "recolour"
    prompt  what to paint: the new content for replace ("a red bus"), the object in its new colour for recolour
            ("a red car"), "" for remove (the caller fills in its background prompt, e.g. REMOVE_PROMPT)
    """

    select: str
    mode: Mode
    prompt: str

    def as_json(self) -> str:
        """One JSON object with exactly the keys select, mode and prompt."""
        return json.dumps(asdict(self))


# ---------------------------------------------------------------------------------------------------------
# Vocabulary

_COLOURS = (
    "red orange yellow green blue purple violet pink brown black white grey gray beige cyan magenta turquoise "
    "teal navy maroon gold golden silver crimson scarlet indigo lavender lilac olive khaki tan cream ivory "
    "burgundy coral salmon mint lime aqua amber bronze copper charcoal emerald ruby mustard peach fuchsia "
    "chocolate rust blonde blond"
).split()
_SHADES = "light dark pale bright deep pastel navy sky baby royal forest neon hot dusty matte glossy metallic".split()

_COLOUR_WORD = r"(?:%s)(?:ish)?" % "|".join(_COLOURS)
_COLOUR_TERM = r"(?:(?:%s)[\s-]+)*%s(?:[\s-]+%s)*" % ("|".join(_SHADES), _COLOUR_WORD, _COLOUR_WORD)
COLOUR = r"%s(?:\s+and\s+%s)?" % (_COLOUR_TERM, _COLOUR_TERM)
"""A colour phrase: "red", "light blue", "navy", "dark blue-green", "red and white"."""

_UNCOUNTABLE = set("hair grass water sand snow fur wood foliage furniture clothing sky smoke".split())
_PREPOSITIONS = set("on in at with near by behind beside next of to from under above below left right".split())

# ---------------------------------------------------------------------------------------------------------
# Sentence forms, tried in order; each names its groups: select, and new (replace) or colour (recolour)

_REMOVE_VERBS = r"remove|erase|delete|get\s+rid\s+of|take\s+out|take\s+away|clear\s+away|clear|eliminate|cut\s+out"
_FROM_PICTURE = r"(?:\s+(?:from|in|out\s+of)\s+(?:the|this|my)\s+(?:image|photo|picture|scene|shot))?"

_FORMS: list[tuple[Mode, re.Pattern]] = [
    ("remove", re.compile(rf"^(?:{_REMOVE_VERBS})\s+(?P<select>.+?){_FROM_PICTURE}$")),
    ("replace", re.compile(r"^replace\s+(?P<select>.+?)\s+(?:with|by)\s+(?P<new>.+)$")),
    ("replace", re.compile(r"^(?:swap|switch|exchange)(?:\s+out)?\s+(?P<select>.+?)\s+(?:for|with)\s+(?P<new>.+)$")),
    ("recolour", re.compile(rf"^(?:change|set)\s+the\s+colou?r\s+of\s+(?P<select>.+?)\s+to\s+(?P<colour>{COLOUR})$")),
    ("recolour", re.compile(rf"^(?:change|turn)\s+(?P<select>.+?)\s+(?:to|into)\s+(?P<colour>{COLOUR})$")),
    ("replace", re.compile(r"^(?:change|turn|transform|convert|make)\s+(?P<select>.+?)\s+(?:to|into)\s+(?P<new>.+)$")),
    ("replace", re.compile(r"^(?:put|place|add)\s+(?P<new>.+?)\s+(?:where|in\s+place\s+of|instead\s+of)\s+"
                           r"(?P<select>.+?)(?:\s+(?:is|are|was|were|used\s+to\s+be|stands|sits))?$")),
    ("recolour", re.compile(rf"^(?:make|paint|colou?r|recolou?r|turn|dye)\s+(?P<select>.+?)\s+(?P<colour>{COLOUR})$")),
]

_POLITE_START = re.compile(
    r"^(?:(?:please|pls|kindly|just|now|ok(?:ay)?|hey|could\s+you|can\s+you|would\s+you|will\s+you"
    r"|i(?:\s+would|'d)\s+like\s+(?:you\s+)?to|i\s+want\s+(?:you\s+)?to|i\s+need\s+(?:you\s+)?to|let'?s"
    r"|go\s+ahead\s+and|try\s+to)\b[\s,]*)+"
)
_POLITE_END = re.compile(r"(?:[\s,]+(?:please|pls|for\s+me|thanks|thank\s+you))+$")
_ARTICLE = re.compile(r"^(?:the|a|an|this|that|these|those|my)\s+")


def parse(sentence: str) -> Plan:
    """Parse one instruction into a Plan; a sentence in none of the known forms is a one-line UserError."""
    text = _normalise(sentence)
    for mode, pattern in _FORMS:
        match = pattern.match(text)
        if not match:
            continue
        select = _ARTICLE.sub("", match["select"]).strip()
        if not select or select in ("it", "them"):
            continue
        if mode == "remove":
            return Plan(select, "remove", "")
        if mode == "replace":
            return Plan(select, "replace", match["new"].strip())
        return Plan(select, "recolour", recolour_prompt(select, match["colour"]))
    shown = " ".join(str(sentence).split())
    shown = shown if len(shown) <= 60 else shown[:57] + "..."
    raise UserError(f"cannot understand the instruction {shown!r}: use one of {FORMS}")


def recolour_prompt(select: str, colour: str) -> str:
    """The object in its new colour: ("car", "red") -> "a red car"; ("walls", "light blue") -> "light blue walls"."""
    colour = " ".join(colour.split())
    words = select.split()
    head = next((w for i, w in enumerate(words) if i + 1 == len(words) or words[i + 1] in _PREPOSITIONS), words[-1])
    plural = head.endswith("s") and not head.endswith(("ss", "us", "is"))
    if plural or head in _UNCOUNTABLE:
        return f"{colour} {select}"
    article = "an" if colour[0] in "aeiou" else "a"
    return f"{article} {colour} {select}"


def _normalise(sentence: str) -> str:
    """Lower-case, straight quotes, one space between words, no politeness, no quotes or end punctuation."""
    text = str(sentence).lower().replace("\u2019", "'").replace("\u2018", "'")
    text = re.sub(r"[\"\u201c\u201d]", " ", text)
    text = " ".join(text.split())
    previous = None
    while text != previous:
        previous = text
        text = text.strip(" \t.,;:!?'`")
        text = _POLITE_START.sub("", text)
        text = _POLITE_END.sub("", text)
    return text
