"""Where a running `tts-local serve` is: a small JSON file it writes at start and removes at exit, so the
other commands find it on whatever ports it chose (`serve --aws-port 4600`) instead of guessing :4566.

The file lives in TTS_LOCAL_STATE_DIR, else $XDG_RUNTIME_DIR/tts-local, else ~/.cache/tts-local, one per
stack name. A file whose process is gone is stale and ignored (and removed); one whose process lives
but whose endpoint does not answer is an error the commands report, never a reason to start a stack of
their own that the running server would never see."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

STATE_DIR_ENV = "TTS_LOCAL_STATE_DIR"


@dataclass(frozen=True)
class ServeState:
    pid: int
    aws_endpoint: str
    api_url: str
    api_key_required: bool  # whether the API checks x-api-key (never the key itself)

    def alive(self) -> bool:
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:  # another user's process of that id: alive, not ours to signal
            return True
        return True


def state_dir() -> Path:
    configured = os.environ.get(STATE_DIR_ENV)
    if configured:
        return Path(configured)
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    return Path(runtime) / "tts-local" if runtime else Path.home() / ".cache" / "tts-local"


def state_path(stack_name: str) -> Path:
    return state_dir() / f"serve-{stack_name}.json"


def write(stack_name: str, state: ServeState) -> Path:
    path = state_path(stack_name)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.part")
    tmp.write_text(json.dumps(asdict(state)))
    tmp.replace(path)  # atomic: a reader never sees half a file
    return path


def read(stack_name: str) -> ServeState | None:
    """The running serve's state; None when there is none (no file, an unreadable one, or a stale one)."""
    path = state_path(stack_name)
    try:
        state = ServeState(**json.loads(path.read_text()))
    except (OSError, ValueError, TypeError):
        return None
    if not state.alive():
        path.unlink(missing_ok=True)
        return None
    return state


def remove(stack_name: str) -> None:
    """At serve's exit: the file goes, unless another serve of that name has replaced it since."""
    path = state_path(stack_name)
    try:
        if json.loads(path.read_text()).get("pid") == os.getpid():
            path.unlink()
    except (OSError, ValueError):
        pass
