"""Normalisation: what TTS users type, as the words every engine says (tts_core.text.normalise)."""

from __future__ import annotations

import pytest

from tts_core.text.normalise import normalise
from tts_core.text.numbers import cardinal, ordinal, year


@pytest.mark.parametrize(("n", "zh", "en"), [
    (0, "零", "zero"), (10, "十", "ten"), (15, "十五", "fifteen"), (101, "一百零一", "one hundred one"),
    (110, "一百一十", "one hundred ten"), (1005, "一千零五", "one thousand five"),
    (20304, "二万零三百零四", "twenty thousand three hundred four"), (100000, "十万", "one hundred thousand"),
    (12345678, "一千二百三十四万五千六百七十八",
     "twelve million three hundred forty-five thousand six hundred seventy-eight"),
    (100000001, "一亿零一", "one hundred million one"),
])
def test_cardinals(n: int, zh: str, en: str) -> None:
    assert (cardinal(n, "zh"), cardinal(n, "en")) == (zh, en)


def test_ordinals_and_years() -> None:
    assert [ordinal(n) for n in (1, 2, 3, 5, 12, 20, 21, 30)] == [
        "first", "second", "third", "fifth", "twelfth", "twentieth", "twenty-first", "thirtieth"]
    assert [year(y) for y in (1999, 2005, 2024, 1900, 1905)] == [
        "nineteen ninety-nine", "two thousand five", "twenty twenty-four", "nineteen hundred", "nineteen oh five"]


@pytest.mark.parametrize(("text", "spoken"), [
    ("It costs $5.50, or €1.", "It costs five dollars fifty cents, or one euro."),
    ("Sales rose 12.5% to 1,234,567 units.", "Sales rose twelve point five percent to one million two hundred "
                                              "thirty-four thousand five hundred sixty-seven units."),
    ("Meet at 9:05 or 10:00 on 2024-01-02.",
     "Meet at nine oh five or ten o'clock on January second, twenty twenty-four."),
    ("It is -5 outside, 20°C inside, 100 km/h, 1 km and 3kg.", "It is minus five outside, twenty degrees Celsius "
     "inside, one hundred kilometers per hour, one kilometer and three kilograms."),
    ("See https://example.com/docs/ or mail ann.lee@example.com.", "See example dot com slash docs or mail ann dot lee "
                                                                    "at example dot com."),
    ("Call 5551234, code 007, version 2.0.1", "Call five five five one two three four, code zero zero seven, "
                                              "version 2.0.1"),
])
def test_english(text: str, spoken: str) -> None:
    assert normalise(text, ["en"]) == spoken


@pytest.mark.parametrize(("text", "spoken"), [
    ("我有1,234个苹果，花了¥100。", "我有一千二百三十四个苹果，花了一百元。"),
    ("会议在9:05开始，10:30结束。", "会议在九点零五分开始，十点三十分结束。"),
    ("增长了50%，气温-5度。", "增长了百分之五十，气温负五度。"),
    ("日期是2024-01-02，距离5 km。", "日期是二零二四年一月二日，距离五公里。"),
    ("圆周率约3.14，电话13812345678。", "圆周率约三点一四，电话一三八一二三四五六七八。"),
    ("访问https://example.com了解更多", "访问example 点 com了解更多"),
])
def test_chinese(text: str, spoken: str) -> None:
    assert normalise(text, ["zh", "en"]) == spoken


def test_the_language_follows_the_words_around_a_number() -> None:
    assert normalise("我买了3个 and he bought 3 more", ["zh", "en"]) == "我买了三个 and he bought three more"
    assert normalise("3", ["zh", "en"]) == "三" and normalise("3", ["en"]) == "three"
