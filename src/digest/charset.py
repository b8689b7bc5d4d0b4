"""Pure: which encoding a file is in, from what it says about itself.

A byte order mark (UTF-8, UTF-16, UTF-32) decides; without one, the way an XML file's
first characters `<?` are encoded does (XML 1.0, appendix F), then the encoding its
declaration names. Nothing is guessed from the content.
"""

from __future__ import annotations

import re

BOMS = (  # UTF-32 first: its little-endian mark starts like UTF-16's
    (b"\x00\x00\xfe\xff", "utf-32-be"),
    (b"\xff\xfe\x00\x00", "utf-32-le"),
    (b"\xef\xbb\xbf", "utf-8"),
    (b"\xfe\xff", "utf-16-be"),
    (b"\xff\xfe", "utf-16-le"),
)
XML_STARTS = (  # "<?" (or "<" for UTF-32) in each encoding, without a BOM
    (b"\x00\x00\x00<", "utf-32-be"),
    (b"<\x00\x00\x00", "utf-32-le"),
    (b"\x00<\x00?", "utf-16-be"),
    (b"<\x00?\x00", "utf-16-le"),
)
XML_DECLARATION = re.compile(rb"""\A\s*<\?xml[^>]*?\bencoding\s*=\s*["']([A-Za-z0-9._:-]+)["']""")
XML_DECLARATION_TEXT = re.compile(r"""\A(\s*<\?xml[^>]*?\bencoding\s*=\s*["'])[^"']*(["'])""")


def byte_encoding(data: bytes) -> tuple[str, int]:
    """(encoding, length of its BOM) from a BOM or how "<?" is encoded; ("", 0) otherwise."""
    for mark, name in BOMS:
        if data.startswith(mark):
            return name, len(mark)
    for start, name in XML_STARTS:
        if data.startswith(start):
            return name, 0
    return "", 0


def sniff(data: bytes) -> tuple[str, int]:
    """(encoding, length of its BOM) from a BOM, an XML start, or else the encoding an
    ASCII-compatible XML declaration names; ("", 0) when none says.
    """
    found = byte_encoding(data)
    if found[0]:
        return found
    declared = XML_DECLARATION.match(data[:200])
    if declared:
        return declared.group(1).decode("ascii").lower(), 0
    return "", 0


def is_utf8(name: str) -> bool:
    return name.lower().replace("_", "-") in ("utf-8", "utf8")


def decode_as(data: bytes, encoding: str) -> str:
    """The text in an encoding the user named (a BOM of it dropped).

    Raises LookupError for an unknown name, UnicodeDecodeError for bytes not in it.
    """
    return data.decode(encoding).removeprefix("\ufeff")


def declare_utf8(text: str) -> str:
    """The text with its XML declaration (if any) saying encoding="utf-8"."""
    return XML_DECLARATION_TEXT.sub(r"\1utf-8\2", text, count=1)
