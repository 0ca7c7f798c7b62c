"""`tts-local serve` takes several API keys, as a usage plan with several keys would (issue 23)."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from tts_local.cli import _api_keys


def _args(files: list[str] | None = None, key: str | None = None) -> argparse.Namespace:
    return argparse.Namespace(api_key_file=files, api_key=key)


def test_repeated_key_files_give_one_key_each(tmp_path: Path) -> None:
    paths = []
    for n, key in enumerate(["first-key", "second-key"]):
        path = tmp_path / f"k{n}"
        path.write_text(key + "\n")
        paths.append(str(path))
    assert _api_keys(_args(paths)) == ["first-key", "second-key"]


def test_the_environment_holds_a_comma_separated_list(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TTS_LOCAL_API_KEYS", "a-key, b-key,,")
    monkeypatch.setenv("TTS_LOCAL_API_KEY", "ignored-when-the-list-is-set")
    assert _api_keys(_args()) == ["a-key", "b-key"]


def test_one_key_still_works_and_a_key_given_twice_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TTS_LOCAL_API_KEYS", raising=False)
    monkeypatch.setenv("TTS_LOCAL_API_KEY", "only-key")
    assert _api_keys(_args()) == ["only-key"]
    monkeypatch.setenv("TTS_LOCAL_API_KEYS", "same,same")
    with pytest.raises(SystemExit):
        _api_keys(_args())
