"""Offline last-resort engine: eSpeak NG through its C API (ctypes).

The shared library and its data come from the `espeakng-loader` wheel, so nothing from the
system package manager is needed (it runs from a Lambda zip). eSpeak NG keeps global state
(current voice, parameters, the synth callback), so one process-wide lock serialises every call.
"""

from __future__ import annotations

import ctypes
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from tts_core.catalogue import Voice, get_voice, language_name
from tts_core.deadline import Deadline
from tts_core.engines import EngineAudio
from tts_core.errors import EngineError, EngineLanguageError, EngineNotConfiguredError, EngineTimeoutError, quoted
from tts_core.models import EngineName, SynthesisRequest
from tts_core.text.languages import first_run_in

# Constants from espeak-ng's speak_lib.h.
_AUDIO_OUTPUT_SYNCHRONOUS = 2
_INITIALIZE_DONT_EXIT = 0x8000  # without it the library calls exit() when its data is missing
_CHARS_UTF8 = 1
_POS_CHARACTER = 1
_EE_OK = 0
_RATE, _VOLUME, _PITCH = 1, 2, 3  # espeak_PARAMETER values

_RATE_DEFAULT, _RATE_MIN, _RATE_MAX = 175, 80, 450  # words per minute, the library's own limits
_PITCH_DEFAULT = 50  # 0..100
_BUFFER_MS = 50  # audio per callback: also how often the deadline is checked

# int SynthCallback(short *wav, int numsamples, espeak_EVENT *events); return 1 to abort.
_SynthCallback = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p
)


@dataclass
class _Collector:
    """The state of the one synthesis in progress (there is at most one, under `_LOCK`)."""

    deadline: Deadline
    chunks: list[np.ndarray] = field(default_factory=list)
    timed_out: bool = False


@dataclass(frozen=True)
class _Library:
    lib: ctypes.CDLL
    sample_rate: int


_LOCK = threading.Lock()
_library: _Library | None = None
_current: _Collector | None = None


def _on_audio(wav: ctypes._Pointer[ctypes.c_short], numsamples: int, _events: int | None) -> int:
    # An exception cannot cross the C boundary (ctypes would print it and return 0), so none may escape.
    collector = _current
    if collector is None:
        return 1
    if numsamples > 0 and wav:
        collector.chunks.append(np.ctypeslib.as_array(wav, shape=(numsamples,)).astype(np.int16))
    if collector.deadline.expired():
        collector.timed_out = True
        return 1
    return 0


# Module-level so the C function pointer outlives every call into the library.
_CALLBACK = _SynthCallback(_on_audio)


def _load() -> _Library:
    """Load and initialise the library once per process. Call with `_LOCK` held."""
    global _library
    if _library is not None:
        return _library
    try:
        import espeakng_loader

        lib = ctypes.CDLL(espeakng_loader.get_library_path())
        data_path = espeakng_loader.get_data_path()
    except (ImportError, OSError, RuntimeError) as exc:
        # OSError also covers a host whose glibc is older than the library needs.
        raise EngineNotConfiguredError("the eSpeak NG library cannot be loaded", detail=str(exc)) from exc

    lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
    lib.espeak_Initialize.restype = ctypes.c_int
    lib.espeak_SetSynthCallback.argtypes = [_SynthCallback]
    lib.espeak_SetSynthCallback.restype = None
    lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
    lib.espeak_SetVoiceByName.restype = ctypes.c_int
    lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
    lib.espeak_SetParameter.restype = ctypes.c_int
    lib.espeak_Synth.argtypes = [
        ctypes.c_void_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int, ctypes.c_uint, ctypes.c_uint,
        ctypes.POINTER(ctypes.c_uint), ctypes.c_void_p,
    ]
    lib.espeak_Synth.restype = ctypes.c_int

    sample_rate = lib.espeak_Initialize(
        _AUDIO_OUTPUT_SYNCHRONOUS, _BUFFER_MS, data_path.encode(), _INITIALIZE_DONT_EXIT
    )
    if sample_rate <= 0:
        raise EngineNotConfiguredError(
            "the eSpeak NG library failed to initialise", detail=f"espeak_Initialize returned {sample_rate}"
        )
    lib.espeak_SetSynthCallback(_CALLBACK)
    _library = _Library(lib=lib, sample_rate=sample_rate)
    return _library


def _set_voice(lib: ctypes.CDLL, language: str, variant: str) -> None:
    if variant and lib.espeak_SetVoiceByName(f"{language}+{variant}".encode()) == _EE_OK:
        return
    status = lib.espeak_SetVoiceByName(language.encode())  # the variant only changes timbre: drop it
    if status != _EE_OK:
        raise EngineError(f"eSpeak NG has no voice '{language}'", detail=f"espeak_SetVoiceByName: {status}")


def _set_parameters(lib: ctypes.CDLL, request: SynthesisRequest) -> None:
    # Parameters are global and persist, so every call sets all of them.
    rate = min(_RATE_MAX, max(_RATE_MIN, round(_RATE_DEFAULT * request.speed)))
    pitch = min(100, max(0, round(_PITCH_DEFAULT * request.pitch)))
    volume = request.volume * 2  # 0..100 -> eSpeak's 0..200, where 100 is normal
    for parameter, value in ((_RATE, rate), (_PITCH, pitch), (_VOLUME, volume)):
        status = lib.espeak_SetParameter(parameter, value, 0)
        if status != _EE_OK:
            detail = f"parameter {parameter}={value}: {status}"
            raise EngineError("eSpeak NG rejected a parameter", detail=detail)


class EspeakEngine:
    """Robotic but dependable speech for Chinese, English and mixed text (and Japanese kana, Spanish, Arabic for
    IndexTTS-2.5's voices), entirely in-process."""

    name = EngineName.OFFLINE

    def __init__(self, voices: Callable[[str], Voice] = get_voice) -> None:
        self._voices = voices  # a voice id -> the catalogue voice that speaks it (custom voices: their fallback)

    def synthesize(self, request: SynthesisRequest, deadline: Deadline) -> EngineAudio:
        global _current
        voice = self._voices(request.voice)  # raises VoiceNotFoundError
        unread = first_run_in(request.text, voice.espeak_unread_scripts)
        if unread is not None:  # its `ja` would say "Chinese letter" for each kanji
            raise EngineLanguageError(f"eSpeak NG's {language_name(voice.language)} voice cannot read {unread.script} "
                                      f"script ('{quoted(unread.text)}')", detail=f"espeak {voice.espeak}")
        text = request.text.encode("utf-8")
        # Another thread may hold the library for a long text: wait no longer than the deadline.
        if deadline.expired() or not _LOCK.acquire(timeout=deadline.remaining()):
            raise EngineTimeoutError("the offline engine ran out of time before starting")
        try:
            library = _load()
            lib = library.lib
            _set_voice(lib, voice.espeak, voice.espeak_variant)
            _set_parameters(lib, request)
            collector = _Collector(deadline=deadline)
            _current = collector
            status = lib.espeak_Synth(text, len(text) + 1, 0, _POS_CHARACTER, 0, _CHARS_UTF8, None, None)
        finally:
            _current = None
            _LOCK.release()
        if collector.timed_out:
            raise EngineTimeoutError("the offline engine ran out of time")
        if status != _EE_OK:
            raise EngineError("eSpeak NG failed to synthesise the text", detail=f"espeak_Synth: {status}")
        if not collector.chunks:
            raise EngineError("eSpeak NG produced no audio")
        samples = np.concatenate(collector.chunks)
        if samples.size == 0:
            raise EngineError("eSpeak NG produced no audio")
        return EngineAudio(samples=samples, sample_rate=library.sample_rate)
