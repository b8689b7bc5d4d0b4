"""Pure: text that may deceive a reader, worth a warning at import (never a refusal).

Two tricks: a domain label that mixes scripts (`exаmple.org` with a Cyrillic а looks
like example.org), and the explicit bidirectional controls (U+202A-202E embeddings and
overrides, U+2066-2069 isolates) that can make a name, title or URL display in another
order than it reads ("Trojan Source"). Mixing Latin with Han, Kana or Hangul is normal
in Japanese, Chinese and Korean names, so those pairs pass (as in Unicode TS #39's
"highly restrictive" level).
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

BIDI_CONTROLS = re.compile("[\u202a-\u202e\u2066-\u2069]")
_SCRIPT_OF_NAME = {"CJK": "Han", "HIRAGANA": "Kana", "KATAKANA": "Kana", "HANGUL": "Hangul"}
_FINE_MIXES = ({"Latin", "Han", "Kana"}, {"Latin", "Han", "Bopomofo"}, {"Latin", "Han", "Hangul"})


def bidi_controls(text: str) -> str:
    """The bidirectional controls in `text`, as 'U+202E RIGHT-TO-LEFT OVERRIDE, ...'; ''."""
    found = dict.fromkeys(BIDI_CONTROLS.findall(text))
    return ", ".join(f"U+{ord(c):04X} {unicodedata.name(c)}" for c in found)


def script(char: str) -> str:
    """The script of a letter, from its Unicode name: 'Latin', 'Cyrillic', 'Han'..."""
    first = unicodedata.name(char, "UNKNOWN").split()[0]
    return _SCRIPT_OF_NAME.get(first, first.title())


@lru_cache(maxsize=4096)
def mixed_script_label(domain: str) -> str:
    """The first label of `domain` that mixes scripts, as 'exаmple (Latin, Cyrillic)'; ''.

    Punycode labels (xn--) are decoded first; digits and hyphens belong to no script.
    """
    for label in domain.lower().split("."):
        if label.startswith("xn--"):
            try:
                label = label[4:].encode("ascii").decode("punycode")
            except (UnicodeError, ValueError):
                continue
        if label.isascii():
            continue
        scripts = dict.fromkeys(script(c) for c in label if c.isalpha())
        if len(scripts) > 1 and not any(set(scripts) <= fine for fine in _FINE_MIXES):
            return f"{label} ({', '.join(scripts)})"
    return ""


def check_email(address: str, *, where: str) -> list[str]:
    """Warnings for an address whose domain has a label mixing scripts."""
    domain = address.rpartition("@")[2]
    if domain.isascii() and "xn--" not in domain:
        return []
    label = mixed_script_label(domain)
    if not label:
        return []
    return [f"{where}: domain label {label} mixes scripts: a look-alike of another domain?"]


def check_texts(values: dict[str, str], *, where: str) -> list[str]:
    """Warnings for each field (name: value) that holds bidirectional controls."""
    warnings = []
    for field, value in values.items():
        controls = bidi_controls(value) if value else ""
        if controls:
            warnings.append(
                f"{where} field {field!r}: holds {controls}, which can make text display "
                "in another order than it reads"
            )
    return warnings
