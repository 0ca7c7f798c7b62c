"""The README is part of the product: it must name every error code, Parameter and fault there is."""

from __future__ import annotations

import re

import pytest

from tts_core.errors import SERVICE_ERROR_CODES, all_error_classes
from tts_core.pipeline.results import ALL_ENGINES_FAILED
from tts_local import faults
from tts_local.template import ROOT, load_template

README = (ROOT / "README.md").read_text()


@pytest.mark.parametrize("code", sorted({c.code for c in all_error_classes()} | set(SERVICE_ERROR_CODES.values())
                                        | {ALL_ENGINES_FAILED}))
def test_every_error_code_is_documented(code: str) -> None:
    assert f"`{code}`" in README


@pytest.mark.parametrize("parameter", sorted(load_template()["Parameters"]))
def test_every_template_parameter_is_documented(parameter: str) -> None:
    assert f"`{parameter}`" in README


@pytest.mark.parametrize("kind", sorted(faults.KINDS))
def test_every_fault_kind_is_documented(kind: str) -> None:
    assert f"`{kind}`" in README


def test_the_two_commands_are_the_ones_ci_runs() -> None:
    assert "make demo" in README and "make test" in README
    ci = (ROOT / ".ci" / "run").read_text()
    assert re.search(r"^make test$", ci, re.MULTILINE)
