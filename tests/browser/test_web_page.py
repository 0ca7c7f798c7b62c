"""The web page as a person uses it: Debian's Chromium (headless, driven by selenium through
chromedriver) against `tts-local serve`, which checks the API key where API Gateway would and
answers 202 at once (SyncWaitSeconds=0) so the page must show progress and poll.

No engine doubles here: the serve process runs the real handlers, so on this machine the primary has
no weights, the fallback no key, and eSpeak NG speaks; the page must say so plainly."""

from __future__ import annotations

import base64
import io
import json
import re
import shutil
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import srt
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import Select, WebDriverWait

from tts_core.audio import wav_info
from tts_core.segmentation import sentence_spans

pytestmark = pytest.mark.browser

API_KEY = "local-test-key"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  # A microphone for the "clone a voice" panel: Chromium's fake device (a beep), granted at once.
                  "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
                  "--autoplay-policy=no-user-gesture-required"]
TEXT = "你好，世界。Hello from the browser."
# Records every state the page shows, so a test can tell that progress was visible while it polled.
RECORD_STATES = """
window.seen = [];
const note = () => window.seen.push([document.body.dataset.state, document.getElementById("status").textContent,
                                     !document.getElementById("progress").hidden].join("|"));
new MutationObserver(note).observe(document.body, {attributes: true, childList: true, characterData: true,
                                                   subtree: true});
"""


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[WebDriver]:
    chromium, chromedriver = shutil.which("chromium"), shutil.which("chromedriver")
    assert chromium and chromedriver, "Debian's chromium and chromium-driver are missing: `make test` installs them"
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in [*CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}"]:
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path=chromedriver), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def text_of(driver: WebDriver, element_id: str) -> str:
    return driver.find_element(By.ID, element_id).text


def test_page_synthesizes_mixed_text_shows_the_failover_and_plays_a_wav(tts_local_serve, browser) -> None:
    api_url, _ = tts_local_serve("--api-key", API_KEY, "-p", "SyncWaitSeconds=0")
    browser.get(f"{api_url}/")
    wait = WebDriverWait(browser, 30)

    # Without the key the API refuses the voice list, and the page says what to do.
    wait.until(lambda d: "API key" in text_of(d, "error"))
    browser.find_element(By.ID, "api-key").send_keys(API_KEY)
    browser.find_element(By.ID, "save-key").click()
    wait.until(lambda d: len(Select(d.find_element(By.ID, "voice")).options) >= 4)
    assert browser.execute_script("return localStorage.getItem('tts.apiKey')") == API_KEY
    Select(browser.find_element(By.ID, "voice")).select_by_value("zh-female")
    Select(browser.find_element(By.ID, "style")).select_by_value("narration")
    box = browser.find_element(By.ID, "text")
    box.clear()
    box.send_keys(TEXT)
    assert box.get_attribute("value") == TEXT

    browser.execute_script(RECORD_STATES)
    browser.find_element(By.ID, "synthesize").click()
    WebDriverWait(browser, 90).until(lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-state")
                                     in ("done", "error"))

    assert browser.find_element(By.TAG_NAME, "body").get_attribute("data-state") == "done", text_of(browser, "error")
    seen = browser.execute_script("return window.seen")
    assert any(s.startswith("running|running on the service (") and s.endswith("|true") for s in seen), seen

    # The engine that spoke and the failover, plainly.
    assert text_of(browser, "engine") == "offline"
    failover = text_of(browser, "failover")
    assert "primary failed (MODEL_UNAVAILABLE)" in failover, failover
    assert "fallback failed (ENGINE_NOT_CONFIGURED)" in failover and "offline succeeded" in failover
    rows = browser.find_elements(By.CSS_SELECTOR, "#attempts tr")
    assert [r.find_elements(By.TAG_NAME, "td")[1].text for r in rows] == ["primary", "fallback", "offline"]

    # The browser fetched and decoded the audio ...
    wait.until(lambda d: d.execute_script(
        "const a = document.getElementById('audio'); return a.readyState >= 1 && a.duration > 0"))
    duration = browser.execute_script("return document.getElementById('audio').duration")
    src = browser.execute_script("return document.getElementById('audio').currentSrc")
    # ... and it is a contract WAV (the same URL, fetched again here).
    with urllib.request.urlopen(src, timeout=10) as answer:
        wav = answer.read()
    assert wav[:4] == b"RIFF" and wav[8:12] == b"WAVE"
    info = wav_info(wav)
    assert (info.sample_rate, info.channels) == (22050, 1)
    assert duration == pytest.approx(info.duration_s, abs=0.05) and duration > 0.5


def test_page_delivers_an_acx_mp3_plays_it_and_links_its_captions(tts_local_serve, browser) -> None:
    api_url, _ = tts_local_serve("--api-key", API_KEY, "-p", "SyncWaitSeconds=0")
    browser.get(f"{api_url}/")
    browser.execute_script(f"localStorage.setItem('tts.apiKey', '{API_KEY}')")
    browser.get(f"{api_url}/")
    WebDriverWait(browser, 30).until(lambda d: len(Select(d.find_element(By.ID, "voice")).options) >= 4)
    Select(browser.find_element(By.ID, "mastering")).select_by_value("acx")
    browser.find_element(By.ID, "captions").click()
    browser.find_element(By.ID, "synthesize").click()
    WebDriverWait(browser, 90).until(lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-state")
                                     in ("done", "error"))
    assert browser.find_element(By.TAG_NAME, "body").get_attribute("data-state") == "done", text_of(browser, "error")
    assert "(mp3," in text_of(browser, "duration") and "192 kbps" in text_of(browser, "duration")
    assert "Mastering acx" in text_of(browser, "loudness") and "meets the profile" in text_of(browser, "loudness")

    # Chromium decodes the MP3 the presigned URL serves as audio/mpeg ...
    WebDriverWait(browser, 30).until(lambda d: d.execute_script(
        "const a = document.getElementById('audio'); return a.readyState >= 1 && a.duration > 0"))
    src = browser.execute_script("return document.getElementById('audio').currentSrc")
    with urllib.request.urlopen(src, timeout=10) as answer:
        assert answer.headers["Content-Type"] == "audio/mpeg"
    # ... and links the captions.
    srt_url = browser.find_element(By.ID, "caption-srt").get_attribute("href")
    with urllib.request.urlopen(srt_url, timeout=10) as answer:
        cues = list(srt.parse(answer.read().decode()))
    assert [c.content for c in cues] == sentences_of(browser.find_element(By.ID, "text").get_attribute("value"))


def sentences_of(text: str) -> list[str]:
    return [text[s.start:s.end] for s in sentence_spans(text)]


def _synthesize_with_selected_voice(browser: WebDriver) -> str:
    box = browser.find_element(By.ID, "text")
    box.clear()
    box.send_keys("Hello in my own voice.")
    browser.find_element(By.ID, "synthesize").click()
    WebDriverWait(browser, 90).until(lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-state")
                                     in ("done", "error"))
    assert browser.find_element(By.TAG_NAME, "body").get_attribute("data-state") == "done", text_of(browser, "error")
    return text_of(browser, "engine")


def test_page_clones_a_voice_recorded_in_the_browser_then_speaks_with_it_and_deletes_it(tts_local_serve,
                                                                                         browser) -> None:
    api_url, _ = tts_local_serve("-p", "SyncWaitSeconds=0")
    browser.get(f"{api_url}/")
    wait = WebDriverWait(browser, 30)
    wait.until(lambda d: len(Select(d.find_element(By.ID, "voice")).options) >= 4)

    browser.find_element(By.ID, "record").click()  # the fake microphone, granted without a prompt
    wait.until(lambda d: "recording" in text_of(d, "record-status"))
    time.sleep(4.5)
    browser.find_element(By.ID, "record-stop").click()
    wait.until(lambda d: text_of(d, "clone-status").startswith("recorded"), "no recording")
    assert 3.5 < float(text_of(browser, "clone-status").split()[1]) < 6.0
    browser.find_element(By.ID, "clone-name").send_keys("Fake mic")
    Select(browser.find_element(By.ID, "clone-language")).select_by_value("en")
    Select(browser.find_element(By.ID, "clone-gender")).select_by_value("male")
    browser.find_element(By.ID, "clone-create").click()
    wait.until(lambda d: text_of(d, "clone-status").startswith("created") or text_of(d, "clone-error"))

    status = text_of(browser, "clone-status")
    assert status.startswith("created Fake mic (v-"), text_of(browser, "clone-error")
    assert "fallback voice en-male" in status
    assert "MODEL_UNAVAILABLE" in status  # no IndexTTS-2 weights on this machine: the page says why
    selected = Select(browser.find_element(By.ID, "voice")).first_selected_option
    voice_id = selected.get_attribute("value")
    assert voice_id.startswith("v-") and selected.text.startswith("Fake mic (your voice)")

    assert _synthesize_with_selected_voice(browser) == "offline"  # eSpeak NG speaks it as en-male
    assert "primary failed (MODEL_UNAVAILABLE)" in text_of(browser, "failover")

    browser.find_element(By.CSS_SELECTOR, f"button[data-voice='{voice_id}']").click()
    wait.until(lambda d: text_of(d, "clone-status").startswith("deleted"))
    values = [o.get_attribute("value") for o in Select(browser.find_element(By.ID, "voice")).options]
    assert voice_id not in values and len(values) == 4


def test_page_offers_the_voices_and_clone_languages_of_the_deployments_primary_model(tts_local_serve,
                                                                                   browser) -> None:
    """PrimaryModel=indextts2.5 adds Japanese, Spanish and Arabic voices: the page lists them and offers their
    languages for a new voice (with indextts2 the clone test above picks English from zh-en, zh, en)."""
    api_url, _ = tts_local_serve("-p", "PrimaryModel=indextts2.5")
    browser.get(f"{api_url}/")
    wait = WebDriverWait(browser, 30)
    wait.until(lambda d: len(Select(d.find_element(By.ID, "voice")).options) >= 10)
    voices = [o.get_attribute("value") for o in Select(browser.find_element(By.ID, "voice")).options]
    assert {"ja-female", "es-male", "ar-female", "zh-female"} <= set(voices)
    offered = Select(browser.find_element(By.ID, "clone-language")).options
    languages = [(o.get_attribute("value"), o.text) for o in offered]
    assert languages == [("zh-en", "Mandarin and English"), ("zh", "Mandarin"), ("en", "English"),
                         ("ja", "Japanese"), ("es", "Spanish"), ("ar", "Arabic")]


def test_page_clones_a_voice_from_a_file(tts_local_serve, browser, tmp_path: Path) -> None:
    t = np.arange(6 * 22050) / 22050
    path = tmp_path / "speaker.flac"
    sf.write(path, (0.3 * np.sin(2 * np.pi * 180 * t) * (0.6 + 0.4 * np.sin(2 * np.pi * 3 * t))).astype(np.float32),
             22050, format="FLAC")
    api_url, _ = tts_local_serve("-p", "SyncWaitSeconds=0")
    browser.get(f"{api_url}/")
    wait = WebDriverWait(browser, 30)
    wait.until(lambda d: len(Select(d.find_element(By.ID, "voice")).options) >= 4)

    browser.find_element(By.ID, "clone-file").send_keys(str(path))
    wait.until(lambda d: text_of(d, "clone-status") == "file: speaker.flac")
    browser.find_element(By.ID, "clone-name").send_keys("From a file")
    browser.find_element(By.ID, "clone-create").click()
    wait.until(lambda d: text_of(d, "clone-status").startswith("created") or text_of(d, "clone-error"))

    assert text_of(browser, "clone-status").startswith("created From a file (v-"), text_of(browser, "clone-error")
    assert "fallback voice zh-female" in text_of(browser, "clone-status")
    rows = browser.find_elements(By.CSS_SELECTOR, "#my-voices tr")
    assert [r.find_elements(By.TAG_NAME, "td")[0].text for r in rows] == ["From a file"]


def test_with_many_voices_the_result_sits_by_the_button_and_long_names_wrap(tts_local_serve, browser) -> None:
    api_url, _ = tts_local_serve("-p", "SyncWaitSeconds=0")
    rate = 22050
    t = np.arange(4 * rate) / rate
    buf = io.BytesIO()
    sf.write(buf, (0.3 * np.sin(2 * np.pi * 180 * t)).astype(np.float32), rate, format="WAV")
    audio = base64.b64encode(buf.getvalue()).decode()
    names = ["N" * 64] + [f"Voice number {n}" for n in range(12)]  # 64 letters without a space first
    for name in names:
        body = json.dumps({"name": name, "language": "en", "gender": "female", "audio_base64": audio}).encode()
        request = urllib.request.Request(f"{api_url}/api/voices", data=body, method="POST",
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=60) as answer:
            assert answer.status == 201
    browser.set_window_size(1000, 900)
    browser.get(f"{api_url}/")
    WebDriverWait(browser, 30).until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#my-voices tr")) == len(names))

    browser.find_element(By.ID, "synthesize").click()
    WebDriverWait(browser, 90).until(lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-state")
                                     in ("done", "error"))

    box = browser.execute_script("""
        const top = id => document.getElementById(id).getBoundingClientRect();
        const page = document.documentElement;
        return {button: top("synthesize").bottom, result: top("result").top, clone: top("clone").top,
                overflow: Math.max(top("my-voices-table").right - top("clone").right,
                                   page.scrollWidth - page.clientWidth)};""")
    assert box["result"] < box["clone"], box  # above the voice table, however long it is
    assert box["result"] - box["button"] < 200, box  # next to the Synthesize button
    assert box["overflow"] <= 0, box  # the 64-letter name wraps: the panel does not scroll sideways


def test_page_speaks_ssml_with_a_lexicon_of_the_key_and_shows_the_marks(tts_local_serve, browser) -> None:
    api_url, _ = tts_local_serve("-p", "SyncWaitSeconds=0")
    lexicon = json.dumps({"lexemes": [{"grapheme": "WWW", "alias": "World Wide Web"}]}).encode()
    put = urllib.request.Request(f"{api_url}/api/lexicons/web", data=lexicon, method="PUT",
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(put, timeout=30) as answer:
        assert answer.status == 200
    browser.get(f"{api_url}/")
    wait = WebDriverWait(browser, 30)
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#lexicons input[data-lexicon='web']"))
    wait.until(lambda d: len(Select(d.find_element(By.ID, "voice")).options) >= 4)
    assert "web (1 lexemes)" in text_of(browser, "lexicons")

    Select(browser.find_element(By.ID, "voice")).select_by_value("en-female")
    Select(browser.find_element(By.ID, "text-type")).select_by_value("ssml")
    browser.find_element(By.CSS_SELECTOR, "#lexicons input[data-lexicon='web']").click()
    box = browser.find_element(By.ID, "text")
    box.clear()
    box.send_keys('<speak>Hello. <break time="2s"/> <mark name="web"/>The WWW.</speak>')
    browser.find_element(By.ID, "synthesize").click()
    WebDriverWait(browser, 90).until(lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-state")
                                     in ("done", "error"))
    assert browser.find_element(By.TAG_NAME, "body").get_attribute("data-state") == "done", text_of(browser, "error")
    marks = text_of(browser, "marks")
    assert marks.startswith("Marks: web at ") and float(marks.split(" at ")[1].split()[0]) > 2.0  # after the break
    duration = float(re.search(r"([0-9.]+) s\b", text_of(browser, "duration")).group(1))  # "(wav, 3.52 s, ...)"
    assert duration > 3.0

    # SSML that is not well-formed: the page shows the code and where.
    box.clear()
    box.send_keys("<speak>Hello")
    browser.find_element(By.ID, "synthesize").click()
    wait.until(lambda d: "INVALID_SSML" in text_of(d, "error"))
    assert "line 1" in text_of(browser, "error")


def test_page_estimates_a_book_starts_it_and_lists_its_chapters(tts_local_serve, browser, tmp_path: Path) -> None:
    path = tmp_path / "tiny-book.txt"
    path.write_text("Chapter 1 Morning\nThe sun rose.\nChapter 2 Evening\nThe sun set. 天黑了。\n", encoding="utf-8")
    api_url, _ = tts_local_serve("-p", "SyncWaitSeconds=0")
    browser.get(f"{api_url}/")
    wait = WebDriverWait(browser, 30)
    wait.until(lambda d: len(Select(d.find_element(By.ID, "voice")).options) >= 4)
    browser.find_element(By.ID, "book-file").send_keys(str(path))
    Select(browser.find_element(By.ID, "book-format")).select_by_value("mp3")

    browser.find_element(By.ID, "book-estimate").click()
    wait.until(lambda d: text_of(d, "book-estimate-out") or text_of(d, "book-error"))
    assert text_of(browser, "book-estimate-out").startswith("2 chapters"), text_of(browser, "book-error")

    browser.find_element(By.ID, "book-start").click()
    WebDriverWait(browser, 120).until(lambda d: text_of(d, "book-status") in ("success", "error", "cancelled")
                                      or text_of(d, "book-error"))
    assert text_of(browser, "book-status") == "success", text_of(browser, "book-error")
    rows = browser.find_elements(By.CSS_SELECTOR, "#book-rows tr")
    assert [r.find_elements(By.TAG_NAME, "td")[1].text for r in rows] == ["Chapter 1 Morning", "Chapter 2 Evening"]
    audio = rows[0].find_element(By.LINK_TEXT, "audio").get_attribute("href")
    with urllib.request.urlopen(audio, timeout=10) as answer:
        assert answer.read(3) in (b"ID3", b"\xff\xfb", b"\xff\xf3")  # an MP3
    assert browser.find_element(By.PARTIAL_LINK_TEXT, "the whole book").get_attribute("href")
