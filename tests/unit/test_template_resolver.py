from __future__ import annotations

from tts_local.stack import LocalStack
from tts_local.template import Resolver, load_template


def test_intrinsics_resolve() -> None:
    template = {"Conditions": {"On": {"Fn::Equals": [{"Ref": "Flag"}, "yes"]}}, "Resources": {}}
    resolver = Resolver(template, {"Flag": "yes", "Name": "n"}, refs={"Bucket": "b"},
                        attributes={"Fn": {"Arn": "arn:fn"}})
    assert resolver.resolve({"Fn::Sub": "${Name}/${Bucket}/${Fn.Arn}"}) == "n/b/arn:fn"
    assert resolver.resolve({"Fn::Sub": ["${X}-${Name}", {"X": {"Ref": "Bucket"}}]}) == "b-n"
    assert resolver.resolve({"Fn::If": ["On", "a", "b"]}) == "a"
    assert resolver.resolve([{"Fn::If": ["On", {"Ref": "AWS::NoValue"}, 1]}, 2]) == [2]
    assert resolver.resolve({"Fn::Join": ["-", ["a", {"Ref": "Name"}]]}) == "a-n"


def test_the_real_template_resolves_to_the_local_names() -> None:
    stack = LocalStack(stack_name="demo")
    assert stack.bucket == "demo-audiobucket"
    assert stack.route_parameter == "/demo/route"
    assert stack.state_machine_arn.endswith(":stateMachine:demo-synthesis")
    short_names = {name for name, _ in stack.functions_by_short_name()}
    assert short_names == {"primary", "fallback", "offline", "record_result", "health_probe", "api", "cache_lookup",
                           "ingest_upload", "plan_segments", "join_segments", "voice_bootstrap", "book_plan",
                           "encode_chapter"}
    assert "Fn::GetAtt" in str(load_template()["Resources"]["SynthesisStateMachine"])
