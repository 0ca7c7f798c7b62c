"""A custom voice's display name: what a person can read, and when two names are the same one.

A name is shown in lists next to others, so it must be visible text that reads as written: no control
characters (C0, DEL, C1, as `text` refuses them), no line or paragraph separators, no bidirectional
controls (U+202E turns `abc\u202etxt.exe` into `abcexe.txt` on screen), and at least one letter, digit,
punctuation mark or symbol (U+200B alone shows nothing). Two names that a person cannot tell apart
(case, width, spacing: NFKC, case-folded, spaces collapsed) are one name: a key's voices never share one.
"""

from __future__ import annotations

import hashlib
import unicodedata

MAX_NAME_CHARS = 64
# Unicode's bidirectional formatting characters (UAX #9): embeddings, overrides, isolates and marks.
BIDI_CONTROLS = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def clean_name(value: str) -> str:
    """The name as stored (NFC, trimmed), or ValueError saying what to change."""
    name = unicodedata.normalize("NFC", value).strip()
    if not name:
        raise ValueError("is empty")
    if len(name) > MAX_NAME_CHARS:
        raise ValueError(f"has {len(name)} characters; at most {MAX_NAME_CHARS}")
    for ch in name:
        if unicodedata.category(ch) in ("Cc", "Zl", "Zp"):
            raise ValueError(f"holds a control character or line break (U+{ord(ch):04X})")
        if ch in BIDI_CONTROLS:
            raise ValueError(f"holds a text-direction control (U+{ord(ch):04X}), which would make it "
                             "display differently from what it is")
    if not any(unicodedata.category(ch)[0] in "LNPS" for ch in name):
        raise ValueError("has no visible character")
    return name


def name_digest(name: str) -> str:
    """The same for two names a person cannot tell apart."""
    folded = " ".join(unicodedata.normalize("NFKC", name).casefold().split())
    return hashlib.sha256(folded.encode()).hexdigest()[:32]
