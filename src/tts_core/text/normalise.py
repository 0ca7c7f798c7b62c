"""Text normalisation for what TTS users type, the same for every engine: numbers, dates, times, currency,
percentages, units, URLs and e-mail addresses become the words a reader would say, in Chinese or English.
A voice that speaks neither (ja, es, ar: IndexTTS-2.5's) gets its text as written.

The language of each match is that of the nearest letter around it (a Han character: Chinese; a Latin
letter: English); with no letter in sight, the voice's first language (Chinese for a zh-en voice). The
rules, with examples (docs/text.md has the full table):

    number      1,234 -> one thousand two hundred thirty-four | 一千二百三十四;  3.14 -> three point one four | 三点一四
    negative    -5 -> minus five | 负五;  long digit runs (13+) are read digit by digit
    percent     50% -> fifty percent | 百分之五十
    currency    $5.50 -> five dollars fifty cents | 五点五美元;  ¥100 -> one hundred yuan | 一百元;  €3, £2
    time        9:05 -> nine oh five | 九点零五分;  10:00 -> ten o'clock | 十点
    date        2024-01-02 -> January second, twenty twenty-four | 二零二四年一月二日
    units       5 km, 3kg, 20°C, 100 km/h, 2 GB -> five kilometers ... | 五公里 ...
    URL         https://example.com/a -> example dot com slash a | example 点 com 斜杠 a
    e-mail      ann.lee@example.com -> ann dot lee at example dot com | ann 点 lee 艾特 example 点 com
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

import unicodedataplus

from tts_core.text.languages import SCRIPT_LANGUAGES
from tts_core.text.numbers import cardinal, digits, ordinal, year

_UNITS: dict[str, tuple[str, str]] = {  # symbol -> (English plural, Chinese)
    "km/h": ("kilometers per hour", "公里每小时"), "km": ("kilometers", "公里"), "cm": ("centimeters", "厘米"),
    "mm": ("millimeters", "毫米"), "m": ("meters", "米"), "kg": ("kilograms", "千克"), "mg": ("milligrams", "毫克"),
    "g": ("grams", "克"), "ml": ("milliliters", "毫升"), "l": ("liters", "升"), "°C": ("degrees Celsius", "摄氏度"),
    "°F": ("degrees Fahrenheit", "华氏度"), "GB": ("gigabytes", "吉字节"), "MB": ("megabytes", "兆字节"),
    "KB": ("kilobytes", "千字节"), "kB": ("kilobytes", "千字节"), "ms": ("milliseconds", "毫秒"),
}
_CURRENCIES: dict[str, tuple[str, str, str, str]] = {  # symbol -> (English unit, plural, hundredth, Chinese)
    "$": ("dollar", "dollars", "cents", "美元"), "€": ("euro", "euros", "cents", "欧元"),
    "£": ("pound", "pounds", "pence", "英镑"), "¥": ("yuan", "yuan", "fen", "元"), "￥": ("yuan", "yuan", "fen", "元"),
}
_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
           "November", "December")

READ_LANGUAGES = frozenset({"zh", "en"})  # what these rules say things in
_WINDOW = 24  # characters either side of a match that decide its language
_DIGIT_RUN = 7  # a plain run of this many digits (a phone number, an id) is read digit by digit
_NUM = r"\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?"
_UNIT_ALTERNATIVES = "|".join(re.escape(u) for u in sorted(_UNITS, key=len, reverse=True))
_PATTERN = re.compile(
    r"(?P<url>\b(?:https?://|www\.)[^\s<>\"'，。！？；]+[^\s<>\"'，。！？；.,!?;:)])"
    r"|(?P<email>\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b)"
    r"|(?P<date>\b(?P<y>\d{4})-(?P<mo>0?[1-9]|1[0-2])-(?P<d>0?[1-9]|[12]\d|3[01])\b)"
    r"|(?P<time>(?<![\d:])(?P<h>[01]?\d|2[0-3]):(?P<mi>[0-5]\d)(?![\d:]))"
    r"|(?P<money>(?P<cur>[$€£¥￥])\s?(?P<amount>" + _NUM + r"))"
    r"|(?P<percent>(?P<sign1>-)?(?P<pnum>" + _NUM + r")\s?%)"
    r"|(?P<measure>(?<![\w.])(?P<mnum>" + _NUM + r")\s?(?P<unit>" + _UNIT_ALTERNATIVES + r")(?![A-Za-z]))"
    r"|(?P<number>(?<![\w.])(?P<sign>-)?(?P<num>" + _NUM + r")(?!\.?\d))",
    re.ASCII,  # \w and \b over ASCII: "有1,234个" holds a number, though 有 is a Unicode word character
)


def _language_around(text: str, start: int, end: int, default: str) -> str:
    """The language of the letters around text[start:end]: a letter right next to it decides (Chinese puts
    none of the spaces English does); else a window either side, where Chinese wins when Han characters hold
    their own against Latin letters (one Han character is about a word, an English word ~5 letters)."""
    touching = text[start - 1: start] + text[end:end + 1]
    if any(is_han(ch) for ch in touching):
        return "zh"
    if any(ch.isascii() and ch.isalpha() for ch in touching):
        return "en"
    window = text[max(0, start - _WINDOW):start] + " " + text[end:end + _WINDOW]
    han = sum(1 for ch in window if ch.isalpha() and is_han(ch))
    latin = sum(1 for ch in window if ch.isascii() and ch.isalpha())
    if han == latin == 0:
        return default
    return "zh" if han * 3 >= latin else "en"


def is_han(ch: str) -> bool:
    """A Chinese character (script Han or Bopomofo)."""
    return "zh" in SCRIPT_LANGUAGES.get(str(unicodedataplus.script(ch)), ())


def _number(value: str, lang: str) -> str:
    plain = value.replace(",", "")
    whole, _, fraction = plain.partition(".")
    if len(whole) > 12 or ("," not in value and (len(whole) >= _DIGIT_RUN or (len(whole) > 1 and whole[0] == "0"))):
        return digits(plain, lang)
    spoken = cardinal(int(whole), lang)
    if fraction:
        spoken += (" point " if lang == "en" else "点") + digits(fraction, lang)
    return spoken


def _signed(sign: str | None, value: str, lang: str) -> str:
    words = _number(value, lang)
    return words if not sign else ("minus " if lang == "en" else "负") + words


def _money(symbol: str, amount: str, lang: str) -> str:
    one, many, hundredth, zh = _CURRENCIES[symbol]
    if lang == "zh":
        return _number(amount.rstrip("0").rstrip(".") if "." in amount else amount, lang) + zh
    whole, _, cents = amount.replace(",", "").partition(".")
    words = f"{cardinal(int(whole), lang)} {one if int(whole) == 1 else many}"
    if cents and int(cents[:2].ljust(2, "0")):
        words += f" {cardinal(int(cents[:2].ljust(2, '0')), lang)} {hundredth}"
    return words


def _time(hour: int, minute: int, lang: str) -> str:
    if lang == "zh":
        minutes = "" if minute == 0 else ("" if minute >= 10 else "零") + cardinal(minute, lang) + "分"
        return f"{cardinal(hour, lang)}点{minutes}"
    if minute == 0:
        return f"{cardinal(hour, lang)} o'clock"
    return f"{cardinal(hour, lang)} {'oh ' if minute < 10 else ''}{cardinal(minute, lang)}"


def date_words(y: int, month: int, day: int, lang: str) -> str:
    """A date as it is read: January second, twenty twenty-four | 二零二四年一月二日."""
    if lang == "zh":
        return f"{digits(str(y), lang)}年{cardinal(month, lang)}月{cardinal(day, lang)}日"
    return f"{_MONTHS[month - 1]} {ordinal(day)}, {year(y)}"


def _spell_address(value: str, lang: str) -> str:
    words = {".": (" dot ", " 点 "), "/": (" slash ", " 斜杠 "), "@": (" at ", " 艾特 "), "-": (" dash ", " 杠 "),
             "_": (" underscore ", " 下划线 "), ":": (" colon ", " 冒号 ")}
    out = "".join(words[ch][lang == "zh"] if ch in words else ch for ch in value)
    return " ".join(out.split())


def _url(value: str, lang: str) -> str:
    return _spell_address(re.sub(r"^(?:https?://)", "", value).rstrip("/"), lang)


def _measure(value: str, unit: str, lang: str) -> str:
    english, chinese = _UNITS[unit]
    if lang == "zh":
        return _number(value, lang) + chinese
    if value == "1":  # "one kilometer", "one degree Celsius"
        english = english.replace("degrees", "degree") if english.startswith("degrees") else english.removesuffix("s")
    return f"{_number(value, lang)} {english}"


_RULES: dict[str, Callable[[re.Match[str], str], str]] = {
    "url": lambda m, lang: _url(m["url"], lang),
    "email": lambda m, lang: _spell_address(m["email"], lang),
    "date": lambda m, lang: date_words(int(m["y"]), int(m["mo"]), int(m["d"]), lang),
    "time": lambda m, lang: _time(int(m["h"]), int(m["mi"]), lang),
    "money": lambda m, lang: _money(m["cur"], m["amount"], lang),
    "percent": lambda m, lang: (("minus " if lang == "en" else "负") if m["sign1"] else "")
    + (f"{_number(m['pnum'], lang)} percent" if lang == "en" else f"百分之{_number(m['pnum'], lang)}"),
    "measure": lambda m, lang: _measure(m["mnum"], m["unit"], lang),
    "number": lambda m, lang: _signed(m["sign"], m["num"], lang),
}


def normalise(text: str, languages: Iterable[str] = ("zh", "en")) -> str:
    """`text` with numbers, dates, times, currency, percentages, units, URLs and e-mail addresses as words.
    `languages`: the voice's, in order of preference (the first is the default where no letter decides)."""
    spoken = list(languages)
    if spoken and not READ_LANGUAGES.intersection(spoken):
        return text  # ja, es, ar: no rules here; the engines read digits and symbols in the voice's language
    default = "zh" if spoken[:1] == ["zh"] or (spoken and "en" not in spoken) else "en"

    def say(match: re.Match[str]) -> str:
        lang = _language_around(text, match.start(), match.end(), default)
        if lang not in spoken and spoken:
            lang = spoken[0]
        words = _RULES[str(match.lastgroup)](match, lang)
        # Keep English words apart from neighbouring letters; Chinese needs no spaces.
        if lang == "en":
            before = text[match.start() - 1: match.start()]
            after = text[match.end(): match.end() + 1]
            words = (" " if before.isalnum() else "") + words + (" " if after.isalnum() else "")
        return words

    return _PATTERN.sub(say, text)
