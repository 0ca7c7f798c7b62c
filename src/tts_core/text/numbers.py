"""Numbers as words, in English and Chinese (used by normalisation and SSML <say-as>)."""

from __future__ import annotations

_EN_ONES = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve",
            "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen")
_EN_TENS = ("", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety")
_EN_SCALES = ((10**9, "billion"), (10**6, "million"), (1000, "thousand"))
_ZH_DIGITS = "零一二三四五六七八九"
_ZH_LARGE = ((10**8, "亿"), (10**4, "万"))
_EN_ORDINAL_WORDS = {"one": "first", "two": "second", "three": "third", "five": "fifth", "eight": "eighth",
                     "nine": "ninth", "twelve": "twelfth"}


def _en_below_thousand(n: int) -> str:
    words = []
    if n >= 100:
        words.append(f"{_EN_ONES[n // 100]} hundred")
        n %= 100
    if n >= 20:
        words.append(_EN_TENS[n // 10] + (f"-{_EN_ONES[n % 10]}" if n % 10 else ""))
    elif n or not words:
        words.append(_EN_ONES[n])
    return " ".join(words)


def _en_cardinal(n: int) -> str:
    if n < 1000:
        return _en_below_thousand(n)
    for scale, name in _EN_SCALES:
        if n >= scale:
            head, rest = divmod(n, scale)
            return f"{_en_cardinal(head)} {name}" + (f" {_en_cardinal(rest)}" if rest else "")
    raise AssertionError("unreachable")


def _zh_group(n: int, leading: bool) -> str:
    """0 < n < 10000 in Chinese; `leading`: the number's highest group (no 零 before it, 十 for 一十)."""
    out, zero, started = "", False, False
    for ch, unit in zip(f"{n:04d}", ("千", "百", "十", ""), strict=True):
        d = int(ch)
        if d == 0:
            zero = zero or started or not leading
            continue
        if zero:
            out += "零"
        out += ("" if d == 1 and unit == "十" and leading and not started else _ZH_DIGITS[d]) + unit
        zero, started = False, True
    return out


def _zh_cardinal(n: int) -> str:
    if n == 0:
        return "零"
    out = ""
    for value, unit in (*_ZH_LARGE, (1, "")):
        group, n = divmod(n, value)
        if group:
            out += _zh_group(group, leading=not out) + unit
        elif out and n:  # an empty group between two others: one 零 (1,0000,0001 -> 一亿零一)
            out += "" if out.endswith("零") else "零"
    return out.replace("零零", "零")


def cardinal(n: int, lang: str) -> str:
    """0 <= n < 10**12 as words: 1234 -> one thousand two hundred thirty-four | 一千二百三十四."""
    return _zh_cardinal(n) if lang == "zh" else _en_cardinal(n)


def digits(value: str, lang: str) -> str:
    """Each digit on its own: 2024 -> two zero two four | 二零二四."""
    if lang == "zh":
        return "".join(_ZH_DIGITS[int(d)] if d.isdigit() else d for d in value)
    return " ".join(_EN_ONES[int(d)] if d.isdigit() else d for d in value if not d.isspace())


def ordinal(n: int) -> str:
    """English ordinals: 1 -> first, 22 -> twenty-second."""
    words = _en_cardinal(n)
    head, sep, last = words.rpartition("-" if "-" in words.rsplit(" ", 1)[-1] else " ")
    if last in _EN_ORDINAL_WORDS:
        last = _EN_ORDINAL_WORDS[last]
    elif last.endswith("y"):
        last = last[:-1] + "ieth"
    else:
        last += "th"
    return head + sep + last


def year(y: int) -> str:
    """An English year as it is read: 1999 -> nineteen ninety-nine, 2024 -> twenty twenty-four, 2005 -> two
    thousand five."""
    if 2000 <= y <= 2009 or y % 1000 == 0 or y < 1000:
        return _en_cardinal(y)
    high, low = divmod(y, 100)
    return _en_cardinal(high) + (" hundred" if low == 0 else f" oh {_EN_ONES[low]}" if low < 10
                                 else f" {_en_cardinal(low)}")
