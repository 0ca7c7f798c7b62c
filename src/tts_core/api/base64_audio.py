"""POST /api/voices' `audio_base64`: the forms people paste, and a precise refusal for the rest.

Accepted: standard base64 (RFC 4648 section 4) with whitespace anywhere (GNU `base64` wraps at 76
columns, Windows tools end lines in CRLF, a paste brings spaces), behind a data URL's prefix
(`data:audio/wav;base64,`, as a browser's FileReader gives it), or in the URL-safe alphabet (section 5,
`-` and `_`) used consistently. Refused, each with its own message:
- padding missing (a length not a multiple of 4): that is also what a text cut short looks like, and a
  truncated recording may still decode; the sender is asked for the whole, padded text;
- the two alphabets mixed (`+` or `/` with `-` or `_`): no encoder writes that, so it is damage;
- a data URL that is not base64 (`data:audio/wav,...`), or any other character (its position named).
"""

from __future__ import annotations

import base64
import binascii
import re

from tts_core.errors import InvalidInputError, quoted

FIELD = "audio_base64"
_DATA_URL = re.compile(r"^data:([^,]*?)(;base64)?,", re.IGNORECASE)
_WHITESPACE = re.compile(r"[ \t\r\n\f\v]+")
_NOT_BASE64 = re.compile(r"[^A-Za-z0-9+/=_-]")


def decode_audio_base64(text: str) -> bytes:
    """The recording's bytes, or InvalidInputError saying what is wrong with the text and how to send it."""
    data_url = _DATA_URL.match(text.lstrip())
    if data_url:
        if not data_url.group(2):
            raise InvalidInputError(f"{FIELD} is a data URL without ';base64': send it base64-encoded "
                                    "(data:audio/wav;base64,...)")
        text = text.lstrip()[data_url.end():]
    compact = _WHITESPACE.sub("", text)
    bad = _NOT_BASE64.search(compact)
    if bad:
        raise InvalidInputError(f"{FIELD} holds '{quoted(bad.group())}' (U+{ord(bad.group()):04X}, character "
                                f"{bad.start() + 1} after whitespace is removed), which is not base64")
    url_safe, standard = bool(set(compact) & set("-_")), bool(set(compact) & set("+/"))
    if url_safe and standard:
        raise InvalidInputError(f"{FIELD} mixes the standard ('+', '/') and URL-safe ('-', '_') alphabets: it is "
                                "damaged; encode the recording again")
    if len(compact) % 4:
        raise InvalidInputError(f"{FIELD} has {len(compact)} characters (whitespace aside), not a multiple of 4: "
                                "its '=' padding is missing or the text was cut short; send all of it, padded")
    try:
        return base64.b64decode(compact, altchars=b"-_" if url_safe else None, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidInputError(f"{FIELD} has '=' padding before its end: it is damaged or two texts were "
                                "joined; encode the recording again") from None
