"""Languages a voice cannot speak are refused with the script and the first offending characters."""

import pytest

from tts_core.catalogue import languages_of
from tts_core.errors import UnsupportedLanguageError
from tts_core.text.languages import first_foreign_run, refuse_foreign

ZH_EN = languages_of("zh-en")
EN = languages_of("en")


@pytest.mark.parametrize("text", [
    "你好，world! 3.14 ¥100 😀", "Hello, Dr. Smith — café, naïve, 1,000 km.", "ㄅㄆㄇ注音", "α = 0.05 and a β-blocker",
    "ＡＢＣ全角", "e\u0301 combining",
])
def test_chinese_english_text_with_symbols_is_spoken_by_a_zh_en_voice(text: str) -> None:
    assert first_foreign_run(text, ZH_EN) is None


@pytest.mark.parametrize(("text", "script", "run"), [
    ("今日はいい天気ですね", "Hiragana", "はいい"),
    ("コーヒーをください", "Katakana", "コーヒー"),
    ("안녕하세요 world", "Hangul", "안녕하세요"),
    ("Hello مرحبا", "Arabic", "مرحبا"),
    ("Привет, мир", "Cyrillic", "Привет"),
    ("The word λόγος", "Greek", "λόγος"),
])
def test_other_scripts_are_found_with_their_first_run(text: str, script: str, run: str) -> None:
    found = first_foreign_run(text, ZH_EN)
    assert found is not None and (found.script, found.text) == (script, run)
    assert text[found.start:].startswith(run)


def test_an_english_voice_does_not_speak_chinese_and_the_error_names_who_does() -> None:
    with pytest.raises(UnsupportedLanguageError) as refused:
        refuse_foreign("Hello 你好", voice="en-female", languages=EN, source_offset=10)
    message = refused.value.message
    assert refused.value.code == "UNSUPPORTED_LANGUAGE" and refused.value.http_status == 422
    assert "Han script ('你好', near character 16)" in message
    assert "voices that speak Chinese: zh-female, zh-male" in message


def test_a_script_no_voice_speaks_says_so() -> None:
    with pytest.raises(UnsupportedLanguageError, match=r"Hiragana script .* no voice of this service speaks it"):
        refuse_foreign("ひらがな", voice="zh-female", languages=ZH_EN)


# -- IndexTTS-2.5's languages: the voices exist, and pass the check, only where it is the primary ------------

def test_kana_han_arabic_and_latin_are_the_new_voices_scripts() -> None:
    assert first_foreign_run("今日はいい天気ですね。東京タワー、ー", languages_of("ja")) is None
    assert first_foreign_run("東京", languages_of("ja")) is None  # kanji alone are Japanese for a ja voice
    assert first_foreign_run("¿Qué tal? El niño come piña, 3 €.", languages_of("es")) is None
    assert first_foreign_run("مرحبا بالعالم، ١٢٣ 123", languages_of("ar")) is None
    found = first_foreign_run("こんにちは hello", languages_of("ja"))
    assert found is not None and (found.script, found.text) == ("Latin", "hello")
    found = first_foreign_run("Hola مرحبا", languages_of("es"))
    assert found is not None and found.script == "Arabic"


def test_with_indextts2_kana_and_arabic_stay_no_voices(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INDEXTTS_MODEL", "indextts2")
    for text in ("ひらがな", "مرحبا"):
        with pytest.raises(UnsupportedLanguageError, match="no voice of this service speaks it"):
            refuse_foreign(text, voice="en-female", languages=EN)
    with pytest.raises(UnsupportedLanguageError, match=r"voices that speak Chinese: zh-female, zh-male$"):
        refuse_foreign("Hello 你好", voice="en-female", languages=EN)


def test_with_indextts25_the_error_names_its_voices(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INDEXTTS_MODEL", "indextts2.5")
    with pytest.raises(UnsupportedLanguageError, match=r"voices that speak Japanese: ja-female, ja-male$"):
        refuse_foreign("ひらがな", voice="zh-female", languages=ZH_EN)
    with pytest.raises(UnsupportedLanguageError, match=r"voices that speak Arabic: ar-female, ar-male$"):
        refuse_foreign("مرحبا", voice="es-female", languages=languages_of("es"))
    with pytest.raises(UnsupportedLanguageError, match=r"voices that speak Chinese or Japanese: zh-female, zh-male, "
                                                       r"ja-female, ja-male$"):
        refuse_foreign("Hello 你好", voice="en-female", languages=EN)
