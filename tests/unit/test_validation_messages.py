"""Every validation message the API's schemas can produce is in this service's words: a sweep of wrong
values through every field of every request body, collecting every error (not only the first)."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from tts_core.api.schemas import CreateVoice, RouteOverride
from tts_core.models import Emotion, SynthesisRequest, validation_message

# pydantic's own wording: Python types and classes, regular expressions, its error-type tags.
LIBRARY_WORDING = ("Input should", "Value error", "instance of", "pattern", "pydantic", "type=", "dictionary",
                   "Field required", "Extra inputs", "String should", "List should", "[", "^")
WRONG_VALUES: list[Any] = [None, True, 0, -1, 1.5, 1e9, float("nan"), float("inf"), "", " ", "x", "a" * 300,
                           "\u200b", "a\u0000b", "\ud800", [], [0.5] * 9, ["x"] * 8, {}, {"k": 1}]
VALID: dict[type[BaseModel], dict[str, Any]] = {
    SynthesisRequest: {"text": "hi"},
    Emotion: {},
    CreateVoice: {"name": "Ada", "language": "en", "gender": "female", "audio_base64": "AAAA"},
    RouteOverride: {"override": None},
}


def bodies() -> list[tuple[str, type[BaseModel], dict[str, Any]]]:
    found = []
    for model, valid in VALID.items():
        found.append((f"{model.__name__}-extra", model, valid | {"unknown": 1}))
        for field in model.model_fields:
            found.append((f"{model.__name__}-{field}-missing", model, {k: v for k, v in valid.items() if k != field}))
            for n, value in enumerate(WRONG_VALUES):
                found.append((f"{model.__name__}-{field}-{n}", model, valid | {field: value}))
    for n, value in enumerate(WRONG_VALUES):  # the nested object, as the API receives it
        for field in Emotion.model_fields:
            found.append((f"emotion-{field}-{n}", SynthesisRequest, {"text": "hi", "emotion": {field: value}}))
    return found


def messages() -> list[tuple[str, str]]:
    out = []
    for name, model, body in bodies():
        try:
            model.model_validate(body)
        except ValidationError as exc:
            out += [(f"{name}:{e['type']}", validation_message(e)) for e in exc.errors()]
    return out


MESSAGES = messages()


def test_the_sweep_reaches_the_error_types_the_schemas_have() -> None:
    kinds = {name.rsplit(":", 1)[1] for name, _ in MESSAGES}
    assert {"missing", "extra_forbidden", "string_type", "literal_error", "less_than_equal", "greater_than_equal",
            "value_error", "too_long", "bool_type", "int_type", "float_type", "model_type",
            "string_unicode"} <= kinds, kinds


@pytest.mark.parametrize(("case", "message"), MESSAGES, ids=[case for case, _ in MESSAGES])
def test_every_validation_message_is_in_the_services_words(case: str, message: str) -> None:
    why = message.partition(": ")[2]
    assert why and why != "is not valid", message  # "is not valid": an error type the table does not know
    assert not any(phrase in why for phrase in LIBRARY_WORDING), message
