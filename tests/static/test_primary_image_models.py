"""The primary's models line up: the engine's MODELS, template.yaml's PrimaryModel, the Dockerfile's
PRIMARY_MODEL build ARG, and the random weights the image tooling builds each one with."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from tts_core.engines.indextts.settings import MODELS
from tts_local.images import random_weights
from tts_local.template import load_template

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = (ROOT / "functions" / "synthesize_primary" / "Dockerfile").read_text()


def test_given_the_engines_models_then_the_template_and_the_dockerfile_offer_the_same() -> None:
    parameter = load_template()["Parameters"]["PrimaryModel"]
    assert tuple(parameter["AllowedValues"]) == MODELS and parameter["Default"] == MODELS[0]
    assert re.search(r"^ARG PRIMARY_MODEL=(\S+)$", DOCKERFILE, re.M).group(1) == MODELS[0]  # type: ignore[union-attr]
    for model in MODELS:  # each has a branch of the weights steps (anything else fails the build)
        assert f'"$PRIMARY_MODEL" = {model} ]' in DOCKERFILE, model


def test_given_each_model_then_the_tooling_has_its_random_weights_and_a_tag_of_its_own() -> None:
    assert tuple(random_weights.RANDOM_MODELS) == MODELS
    assert random_weights.full_random_tag() == random_weights.FULL_RANDOM_TAG  # the default's, unchanged
    assert len({random_weights.full_random_tag(m) for m in MODELS}) == len(MODELS)


@pytest.mark.parametrize("model", MODELS)
def test_when_the_full_image_is_built_then_its_model_is_the_build_arg(model: str, tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    calls: dict[str, Any] = {}

    def weights(size: str, packed: bool = False, model: str = "") -> str:
        calls["weights"] = (size, packed, model)
        return f"build/{model}-random"

    def build(name: str, tag: str, args: dict[str, str], log: Path) -> float:
        calls["build"] = (tag, args)
        return 1.0

    monkeypatch.setattr(random_weights, "image_exists", lambda tag: False)
    monkeypatch.setattr(random_weights, "random_weights", weights)
    monkeypatch.setattr(random_weights, "build", build)
    tag = random_weights.ensure_full_random_image(tmp_path, model)
    assert calls["build"] == (tag, {"WEIGHTS_DIR": f"build/{model}-random", "PRIMARY_MODEL": model})
    # IndexTTS-2's image packs its weights (so they come packed); 2.5's copies them as published.
    assert calls["weights"] == ("full", model == "indextts2", model)


def test_when_packed_weights_of_a_model_without_a_packer_are_asked_for_then_it_says_so() -> None:
    with pytest.raises(ValueError, match=r"does not pack indextts2\.5"):
        random_weights.random_weights("tiny", packed=True, model="indextts2.5")
