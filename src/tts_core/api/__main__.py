"""`python -m tts_core.api OUT.json`: write the OpenAPI document (docs/openapi.json is its committed copy)."""

from __future__ import annotations

import sys
from pathlib import Path

from tts_core.api import openapi
from tts_core.api.app import app


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m tts_core.api OUT.json", file=sys.stderr)
        return 2
    Path(argv[0]).write_text(openapi.document(app), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
