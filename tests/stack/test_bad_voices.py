"""Careless voice cloning through the HTTP API (POST /api/voices), as a person would send it: recordings
that are mostly silence, impossible rates, DC, non-finite samples, files that are not audio, base64 as
tools write it, a recording that is too big, and names that mislead. Every refusal has a stable code and
a message in this service's words, and stores nothing; what is accepted is checked in what was stored.

One local stack serves the module (engine doubles)."""

from __future__ import annotations

import base64
import io
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
import soundfile as sf
from http_client import call

from tts_core.audio import gated_loudness_dbfs, read_wav
from tts_core.platform import storage
from tts_core.voices import registry
from tts_local.http_api import ApiServer
from tts_local.stack import LocalStack

pytestmark = pytest.mark.stack
RATE = 24000
# Python objects, addresses, library names: what a message must never show.
INTERNALS = ("<_io", "BytesIO", "0x7f", "Error opening", "soundfile", "libsndfile", "Format not recognised")


@dataclass(frozen=True)
class Served:
    stack: LocalStack
    server: ApiServer


@pytest.fixture(scope="module")
def served(served_api) -> Iterator[Served]:
    with served_api({}) as (stack, server):
        yield Served(stack, server)


def speech(seconds: float, rate: int = RATE, amplitude: float = 0.3, hz: float = 150.0) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (amplitude * np.sin(2 * np.pi * hz * t) * (0.6 + 0.4 * np.sin(2 * np.pi * 3 * t))).astype(np.float32)


def silence(seconds: float, rate: int = RATE) -> np.ndarray:
    return np.zeros(int(seconds * rate), dtype=np.float32)


def wav(samples: np.ndarray, rate: int = RATE, subtype: str = "PCM_16", fmt: str = "WAV") -> bytes:
    buf = io.BytesIO()
    sf.write(buf, samples, rate, format=fmt, subtype=subtype)
    return buf.getvalue()


def with_sample(samples: np.ndarray, value: float) -> np.ndarray:
    damaged = samples.copy()
    damaged[1000:1010] = value
    return damaged


def clone(served: Served, audio: bytes | None = None, *, name: str = "Ada",
          b64: str | None = None) -> tuple[int, dict[str, Any]]:
    body = {"name": name, "language": "en", "gender": "female",
            "audio_base64": b64 if b64 is not None else base64.b64encode(audio or b"").decode()}
    return call(served.server, "POST", "/api/voices", json.dumps(body).encode())


def voice_keys(stack: LocalStack) -> list[str]:
    return sorted(k for k in storage.list_keys(stack.bucket, registry.VOICES_PREFIX))


def stored(stack: LocalStack, voice_id: str) -> tuple[np.ndarray, int]:
    return read_wav(storage.get_bytes(stack.bucket, registry.voice_keys(voice_id)[0]))


def delete(served: Served, voice_id: str) -> None:
    status, answer = call(served.server, "DELETE", f"/api/voices/{voice_id}")
    assert status == 200, answer


# ---- recordings -----------------------------------------------------------------------------------
REFUSED_RECORDINGS: list[tuple[str, bytes, int, str, str]] = [  # id, file, status, code, in the message
    ("29s-silence-then-1s-tone", wav(np.concatenate([silence(29), speech(1)])), 400, "AUDIO_TOO_SHORT", "carry sound"),
    ("speech-20s-gap-speech", wav(np.concatenate([speech(2), silence(20), speech(2)])), 400, "AUDIO_TOO_SHORT",
     "carry sound"),
    ("1-hz-10-frames", wav(np.full(10, 0.5, dtype=np.float32), rate=1), 400, "AUDIO_RATE_TOO_LOW", "8000 Hz"),
    ("100-hz", wav(speech(10, rate=100, hz=20), rate=100), 400, "AUDIO_RATE_TOO_LOW", "8000 Hz"),
    ("7999-hz", wav(speech(5, rate=7999), rate=7999), 400, "AUDIO_RATE_TOO_LOW", "8000 Hz"),
    ("10s-dc", wav(np.full(10 * RATE, 0.5, dtype=np.float32)), 400, "AUDIO_SILENT", "constant offset"),
    ("positive-infinity", wav(with_sample(speech(5), np.inf), subtype="FLOAT"), 415, "AUDIO_UNDECODABLE",
     "non-finite samples"),
    ("negative-infinity", wav(with_sample(speech(5), -np.inf), subtype="DOUBLE"), 415, "AUDIO_UNDECODABLE",
     "non-finite samples"),
    ("nan", wav(with_sample(speech(5), np.nan), subtype="FLOAT"), 415, "AUDIO_UNDECODABLE", "non-finite samples"),
    ("png", b"\x89PNG\r\n\x1a\n" + bytes(200), 415, "AUDIO_UNDECODABLE", "not a WAV, FLAC, OGG or MP3 recording"),
    ("text-file", b"Hello, this is a text file, not a recording.\n" * 20, 415, "AUDIO_UNDECODABLE",
     "not a WAV, FLAC, OGG or MP3 recording"),
]


@pytest.mark.parametrize(("audio", "status", "code", "says"),
                         [pytest.param(*r[1:], id=r[0]) for r in REFUSED_RECORDINGS])
def test_given_a_recording_that_cannot_be_a_voice_then_a_coded_refusal_and_nothing_stored(
        served: Served, audio: bytes, status: int, code: str, says: str) -> None:
    before = voice_keys(served.stack)

    got, answer = clone(served, audio)

    assert (got, answer["code"]) == (status, code), answer
    assert says in answer["message"], answer["message"]
    assert not any(internal in answer["message"] for internal in INTERNALS), answer["message"]
    assert voice_keys(served.stack) == before


def test_given_silence_before_the_speech_then_the_speech_is_what_is_kept(served: Served) -> None:
    status, voice = clone(served, wav(np.concatenate([silence(16), speech(10)])), name="late start")

    assert status == 201, voice
    samples, rate = stored(served.stack, voice["id"])
    assert 10.0 <= samples.size / rate <= 10.5  # the speech and a short margin, not 15 s from the start
    # Every second kept carries sound (before: the first 15 s of the file, digital silence).
    seconds = samples[: samples.size // rate * rate].reshape(-1, rate)
    assert all(gated_loudness_dbfs(second, rate) is not None for second in seconds)
    delete(served, voice["id"])


def test_given_a_recording_with_a_dc_offset_then_the_voice_is_kept_without_it(served: Served) -> None:
    status, voice = clone(served, wav(speech(6) * 0.5 + 0.4), name="offset")

    assert status == 201, voice
    samples, _ = stored(served.stack, voice["id"])
    assert abs(float(np.mean(samples))) < 1e-3
    delete(served, voice["id"])


# ---- base64 as tools write it -------------------------------------------------------------------
RECORDING = wav(speech(4))
PLAIN = base64.b64encode(RECORDING).decode()
ACCEPTED_BASE64 = [
    ("gnu-base64-wrapped-at-76", base64.encodebytes(RECORDING).decode()),
    ("crlf-lines", base64.encodebytes(RECORDING).decode().replace("\n", "\r\n")),
    ("surrounding-spaces", f"  \t{PLAIN}\n "),
    ("data-url", f"data:audio/wav;base64,{PLAIN}"),
    ("data-url-upper-case", f"DATA:audio/x-wav;BASE64,{PLAIN}"),
    ("url-safe-alphabet", base64.urlsafe_b64encode(RECORDING).decode()),
]
REFUSED_BASE64 = [  # id, text, in the message
    ("unpadded", PLAIN.rstrip("=") if PLAIN.endswith("=") else PLAIN[:-2], "not a multiple of 4"),
    ("cut-short", PLAIN[:-5], "not a multiple of 4"),
    ("mixed-alphabets", "+/" + base64.urlsafe_b64encode(RECORDING).decode()[2:], "mixes"),
    ("data-url-not-base64", "data:audio/wav,RIFF", "without ';base64'"),
    ("not-base64-character", PLAIN[:100] + "*" + PLAIN[101:], "'*'"),
    ("padding-inside", PLAIN[:8] + "====" + PLAIN[8:], "padding before its end"),
]


@pytest.mark.parametrize("text", [pytest.param(t, id=i) for i, t in ACCEPTED_BASE64])
def test_given_base64_as_common_tools_write_it_then_the_voice_is_created(served: Served, text: str) -> None:
    assert (PLAIN.endswith("=") or len(RECORDING) % 3 == 0) and len(PLAIN) % 4 == 0
    status, voice = clone(served, b64=text, name=f"base64 form of {len(text)} characters")

    assert status == 201, voice
    samples, rate = stored(served.stack, voice["id"])
    assert 3.9 <= samples.size / rate <= 4.1
    delete(served, voice["id"])


@pytest.mark.parametrize(("text", "says"), [pytest.param(t, s, id=i) for i, t, s in REFUSED_BASE64])
def test_given_base64_that_is_damaged_then_the_message_says_how(served: Served, text: str, says: str) -> None:
    before = voice_keys(served.stack)

    status, answer = clone(served, b64=text)

    assert (status, answer["code"]) == (400, "INVALID_INPUT"), answer
    assert says in answer["message"] and answer["message"].startswith("audio_base64 "), answer["message"]
    assert voice_keys(served.stack) == before


def test_given_a_30s_stereo_48khz_wav_then_the_refusal_says_how_to_make_it_fit(served: Served) -> None:
    audio = wav(np.stack([speech(30, rate=48000)] * 2, axis=1), rate=48000)
    assert len(audio) > 5_700_000  # 5.76 MB: inside the documented 3-30 s, over the body limit once encoded
    before = voice_keys(served.stack)

    status, answer = clone(served, audio)

    assert (status, answer["code"]) == (413, "PAYLOAD_TOO_LARGE"), answer
    for advice in ("mono", "16 kHz", "FLAC"):
        assert advice in answer["message"], answer["message"]
    assert voice_keys(served.stack) == before


# ---- names --------------------------------------------------------------------------------------
REFUSED_NAMES = [
    ("zero-width-space-only", "\u200b"),
    ("invisible-only", "\u200b\u2060\ufeff \u200d"),
    ("combining-marks-only", "\u0301\u0308"),
    ("bidi-override", "abc\u202etxt.exe"),
    ("bidi-isolate", "\u2067Ada\u2069"),
    ("right-to-left-mark", "Ada\u200f"),
    ("c1-next-line", "a\u0085b"),
    ("c0-escape", "\u001b[31mred"),
    ("line-separator", "a\u2028b"),
    ("65-characters", "a" * 65),
]


@pytest.mark.parametrize("name", [pytest.param(n, id=i) for i, n in REFUSED_NAMES])
def test_given_a_name_that_misleads_or_shows_nothing_then_it_is_refused(served: Served, name: str) -> None:
    before = voice_keys(served.stack)

    status, answer = clone(served, RECORDING, name=name)

    assert (status, answer["code"]) == (400, "INVALID_INPUT"), answer
    assert answer["message"].startswith("name: ") and not any(w in answer["message"] for w in ("Input should",
                                                                                             "pattern")), answer
    assert voice_keys(served.stack) == before


def test_given_a_name_already_used_by_the_key_then_the_second_voice_is_refused(served: Served) -> None:
    before = voice_keys(served.stack)
    status, first = clone(served, RECORDING, name="Narrator")
    assert status == 201, first

    for same in ("Narrator", "narrator", " NARRATOR ", "Ｎａｒｒａｔｏｒ"):  # case, spaces, full width
        status, answer = clone(served, RECORDING, name=same)
        assert (status, answer["code"]) == (409, "VOICE_NAME_TAKEN"), answer
        assert first["id"] in answer["message"]
    names = [v["name"] for v in call(served.server, "GET", "/api/voices")[1]["voices"] if v["custom"]]
    assert names.count("Narrator") == 1

    delete(served, first["id"])  # a deleted voice's name is free again
    status, again = clone(served, RECORDING, name="narrator")
    assert status == 201, again
    delete(served, again["id"])
    assert voice_keys(served.stack) == before  # the name's claim goes with its voice


def test_given_64_letters_without_a_space_then_the_name_is_kept_whole(served: Served) -> None:
    name = "Supercalifragilisticexpialidocious" + "x" * 30

    status, voice = clone(served, RECORDING, name=name)

    assert status == 201 and voice["name"] == name, voice
    delete(served, voice["id"])


# ---- a voice deleted while a job uses it ----------------------------------------------------------
def metric_documents(out: str) -> list[dict[str, Any]]:
    return [doc for line in out.splitlines() if line.startswith('{"_aws"') for doc in [json.loads(line)]]


def test_given_a_voice_deleted_while_its_job_runs_then_the_job_ends_voice_not_found_not_as_an_outage(
        served: Served, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    status, voice = clone(served, RECORDING, name="short-lived")
    assert status == 201, voice
    # The engines that could speak it fail; the last resort is slowed, so the voice goes while it waits.
    monkeypatch.setenv("TTS_LOCAL_FAULTS", "primary=error,fallback=error,offline=slow:3")
    capsys.readouterr()
    answers: list[tuple[int, dict[str, Any]]] = []
    request = json.dumps({"text": "Spoken by a voice about to go.", "voice": voice["id"]}).encode()
    poster = threading.Thread(target=lambda: answers.append(call(served.server, "POST", "/api/synthesize", request)))
    poster.start()
    time.sleep(1.0)  # accepted, and the last resort is waiting

    delete(served, voice["id"])
    poster.join(timeout=60)

    (status, job), = answers
    assert (job["status"], job["code"]) == ("error", "VOICE_NOT_FOUND"), job
    assert "deleted while the job ran" in job["message"], job["message"]
    assert status == 404, job  # the caller's doing, not an engine outage (502)
    recorded = [doc for doc in metric_documents(capsys.readouterr().out) if "RequestFailed" in doc]
    assert recorded and all(doc["RequestFailed"] == [0.0] for doc in recorded), recorded  # AllEnginesFailedAlarm
    assert [doc["RequestRefused"] for doc in recorded] == [[1.0]], recorded
