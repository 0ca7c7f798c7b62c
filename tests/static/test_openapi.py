"""The OpenAPI document: generated from the code (one source), committed, valid, and in step with
the routes template.yaml gives API Gateway."""

from __future__ import annotations

import json

from openapi_spec_validator import validate

from tts_core.api import openapi
from tts_core.api.app import app
from tts_local.template import ROOT, load_template, resources_of_type

COMMITTED = ROOT / "docs" / "openapi.json"


def document() -> str:
    return openapi.document(app)


def test_the_committed_document_is_the_generated_one() -> None:
    assert COMMITTED.read_text(encoding="utf-8") == document(), (
        "docs/openapi.json is stale: run .venv/bin/python -m tts_core.api docs/openapi.json")


def test_the_document_is_valid_openapi_3_1() -> None:
    spec = json.loads(document())
    validate(spec)
    assert spec["openapi"].startswith("3.1")


def test_the_document_and_the_template_have_the_same_routes_and_auth() -> None:
    spec = json.loads(document())
    documented = {(method.upper(), path): op.get("security") for path, ops in spec["paths"].items()
                  for method, op in ops.items()}
    template = load_template()
    key_by_default = template["Resources"]["TtsApi"]["Properties"]["Auth"]["ApiKeyRequired"]
    deployed = {}
    for spec_ in resources_of_type(template, "AWS::Serverless::Function").values():
        for event in spec_["Properties"].get("Events", {}).values():
            if event["Type"] == "Api":
                props = event["Properties"]
                auth = props.get("Auth", {})
                security = ([{"IamSigV4": []}] if auth.get("Authorizer") == "AWS_IAM"
                            else [{"ApiKey": []}] if auth.get("ApiKeyRequired", key_by_default) else None)
                deployed[(props["Method"].upper(), props["Path"])] = security
    assert documented == deployed


def test_request_bodies_are_the_models_the_api_validates() -> None:
    spec = json.loads(document())
    body = spec["paths"]["/api/synthesize"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert body["$ref"] == "#/components/schemas/SynthesisRequest"
    request = spec["components"]["schemas"]["SynthesisRequest"]
    assert request["required"] == ["text"] and request["additionalProperties"] is False
    assert {"text", "voice", "speed", "emotion", "cache"} <= set(request["properties"])
