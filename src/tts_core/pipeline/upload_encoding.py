"""How an uploaded file's bytes become text: UTF-8 (with or without a byte-order mark), and UTF-16 or
UTF-32 with one (Notepad's "Unicode" is UTF-16 LE with a BOM). Nothing else is guessed.

Legacy Chinese encodings (GBK/GB18030, Big5) are refused, not detected: on short texts no detector is
reliable (charset-normalizer 3.5.2 names 4 bytes of GBK "Big5" and 12 bytes "UTF-16-BE"), and a wrong
guess would be spoken as the wrong words. The refusal says what the file probably is ("save it as UTF-8
(this looks like GBK)"): a hint, never used to read it."""

from __future__ import annotations

import codecs
import unicodedata

from tts_core.errors import InvalidEncodingError

_BOMS = ((codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"),  # before UTF-16: FF FE 00 00
         (codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))


def decode_upload(data: bytes) -> str:
    """The file's text, or InvalidEncodingError saying how to save it."""
    for bom, codec in _BOMS:
        if data.startswith(bom):
            try:
                return data.decode(codec)
            except UnicodeDecodeError:
                raise InvalidEncodingError(f"the uploaded file starts as {codec.upper().removesuffix('-SIG')} "
                                           "(its byte-order mark) but is not valid in it") from None
    if b"\x00" in data:
        if _looks_like_bomless_utf16(data):
            raise InvalidEncodingError("the uploaded file looks like UTF-16 without a byte-order mark: save it "
                                       "as UTF-8")
        raise InvalidEncodingError("the uploaded file is binary, not text")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        guess = _legacy_guess(data)
        like = f" (this looks like {guess})" if guess else ""
        raise InvalidEncodingError(f"the uploaded file is not valid UTF-8 (byte {exc.start}): save it as "
                                   f"UTF-8{like}") from None


def _looks_like_bomless_utf16(data: bytes) -> bool:
    """Mostly-ASCII text in UTF-16: a NUL in every other byte."""
    return len(data) >= 4 and any(data[i::2].count(0) >= len(data) // 2 * 0.9 for i in (0, 1))


def _legacy_guess(data: bytes) -> str | None:
    """The legacy encoding the bytes most likely are, for the message only: GBK when they read as Chinese in
    GB18030 and every character is in GB2312 (the common simplified set, whose bytes are all 0xA1-0xFE),
    else Big5 when they read as Chinese in it (Big5's second bytes 0x40-0x7E fall outside GB2312); None
    when they read as Chinese in neither."""
    gb, big5 = _as_chinese(data, "gb18030"), _as_chinese(data, "big5")
    if gb is not None and (big5 is None or _encodes(gb, "gb2312")):
        return "GBK"
    return "Big5" if big5 is not None else None


def _as_chinese(data: bytes, codec: str) -> str | None:
    try:
        text = data.decode(codec)
    except UnicodeDecodeError:
        return None
    return text if any(unicodedata.name(ch, "").startswith("CJK UNIFIED IDEOGRAPH") for ch in text) else None


def _encodes(text: str, codec: str) -> bool:
    try:
        text.encode(codec)
    except UnicodeEncodeError:
        return False
    return True
