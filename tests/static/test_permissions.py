"""Each function holds the S3 actions it uses on the prefixes it uses (issue 23, item 5): a test over
template.yaml that no function can write where it has no business, that none can change the bucket's
configuration (lifecycle, versioning, policy: that is for operators, through CloudFormation), and that
the functions parsing untrusted text and audio cannot read other tenants' data."""

from __future__ import annotations

import re

import pytest

from tts_local.iam import Grant, allowed, function_grants, statements
from tts_local.stack import LocalStack
from tts_local.template import resources_of_type

STACK = LocalStack()
BUCKET = STACK.bucket
GRANTS = function_grants(STACK.resolver)
FUNCTIONS = sorted(GRANTS)
# One key of each kind the service stores.
KEYS = {
    "audio": "audio/20260101T000000Z-0123456789ab/primary.wav",
    "segment": "audio/20260101T000000Z-0123456789ab/segments/00001.primary.wav",
    "plan": "audio/20260101T000000Z-0123456789ab/segments/plan.json",
    "result": "results/20260101T000000Z-0123456789ab.json",
    "cache": "cache/primary/0123abcd.wav",
    "voice-wav": "voices/v-1.wav",
    "voice-record": "voices/v-1.json",
    "voice-conditioning": "voices/v-1.cond/model.pt",
    "voice-owner": "voices/by-owner/key-a/v-1",
    "voice-reference": "voice-references/zh-female.wav",
    "inbox": "inbox/book.txt",
    "output": "outputs/book.wav",
    "book-output": "outputs/book/01-morning.mp3",
    "failed": "failed/book.json",
    "superseded": "superseded/book/v1.json",
}
# Who may write (PutObject, or a copy's destination) each kind of key: the whole table, so any change is seen.
WRITERS = {
    # the engines and the join write it; the record step delivers (masters, encodes, captions) beside it
    "audio": {"SynthesizePrimaryFunction", "SynthesizeFallbackFunction", "SynthesizeOfflineFunction",
              "JoinSegmentsFunction", "RecordResultFunction"},
    "segment": {"SynthesizePrimaryFunction", "SynthesizeFallbackFunction", "SynthesizeOfflineFunction",
                "JoinSegmentsFunction", "RecordResultFunction"},
    "plan": {"SynthesizePrimaryFunction", "SynthesizeFallbackFunction", "SynthesizeOfflineFunction",
             "JoinSegmentsFunction", "PlanSegmentsFunction", "RecordResultFunction"},
    "result": {"RecordResultFunction", "BookPlanFunction"},  # a book job's record is its bookkeeping's
    "cache": {"RecordResultFunction"},
    "voice-wav": {"ApiFunction", "VoiceBootstrapFunction"},
    "voice-record": {"ApiFunction", "VoiceBootstrapFunction", "SynthesizePrimaryFunction"},
    "voice-conditioning": {"ApiFunction", "VoiceBootstrapFunction", "SynthesizePrimaryFunction"},
    "voice-owner": {"ApiFunction", "VoiceBootstrapFunction"},
    "voice-reference": set(),  # operators' own recordings
    "inbox": set(),  # only people (operators' credentials) upload
    "output": {"RecordResultFunction", "IngestUploadFunction", "BookPlanFunction", "EncodeChapterFunction"},
    "book-output": {"RecordResultFunction", "IngestUploadFunction", "BookPlanFunction", "EncodeChapterFunction"},
    "failed": {"RecordResultFunction", "IngestUploadFunction"},
    "superseded": {"RecordResultFunction", "IngestUploadFunction"},
}
DELETERS = {
    "voice-wav": {"ApiFunction"}, "voice-record": {"ApiFunction"}, "voice-conditioning": {"ApiFunction"},
    "voice-owner": {"ApiFunction"},
    "output": {"RecordResultFunction", "IngestUploadFunction"},
    "book-output": {"RecordResultFunction", "IngestUploadFunction"},
    "failed": {"RecordResultFunction", "IngestUploadFunction"},
}
# What the functions that parse untrusted input (text, audio) or face the internet must never read.
UNREADABLE = {
    "SynthesizeFallbackFunction": {"result", "cache", "inbox", "output", "failed", "voice-wav", "audio"},
    "SynthesizeOfflineFunction": {"result", "cache", "inbox", "output", "failed", "voice-wav", "audio"},
    "SynthesizePrimaryFunction": {"result", "cache", "inbox", "output", "failed", "audio"},
    "ApiFunction": {"inbox", "output", "failed", "voice-reference"},
    "PlanSegmentsFunction": set(KEYS),
}
BUCKET_CONFIGURATION = re.compile(r"^(\*|s3:\*|s3:(Put|Delete)(Bucket\w*|\w*Configuration)|s3:DeleteBucket|"
                                  r"s3:PutLifecycleConfiguration|s3:PutBucketVersioning|s3:PutEncryptionConfiguration)$")
S3_POLICY_TEMPLATES = ("S3CrudPolicy", "S3FullAccessPolicy", "S3WritePolicy", "S3ReadPolicy")


def test_no_function_holds_a_bucket_wide_policy_template() -> None:
    for logical, spec in resources_of_type(STACK.template, "AWS::Serverless::Function").items():
        for policy in spec["Properties"].get("Policies", []):
            named = set(policy) if isinstance(policy, dict) else {policy}
            assert not named & set(S3_POLICY_TEMPLATES), f"{logical} holds {named & set(S3_POLICY_TEMPLATES)}"


def test_every_object_grant_names_a_prefix_and_no_action_is_a_wildcard() -> None:
    for logical, grants in GRANTS.items():
        for grant in grants:
            assert not any("*" in a for a in grant.actions), f"{logical}: wildcard action {grant.actions}"
            for resource in grant.resources:
                path = resource.removeprefix(f"arn:aws:s3:::{BUCKET}")
                assert path == "" or re.match(r"^/[a-z_-]+/", path), f"{logical}: {resource} is not under a prefix"


@pytest.mark.parametrize("kind", sorted(KEYS))
def test_only_the_functions_whose_business_it_is_write_each_kind_of_key(kind: str) -> None:
    writers = {f for f in FUNCTIONS if allowed(GRANTS[f], "s3:PutObject", BUCKET, KEYS[kind])}
    assert writers == WRITERS[kind]
    deleters = {f for f in FUNCTIONS for action in ("s3:DeleteObject", "s3:DeleteObjectVersion")
                if allowed(GRANTS[f], action, BUCKET, KEYS[kind])}
    assert deleters == DELETERS.get(kind, set())


@pytest.mark.parametrize("function", sorted(UNREADABLE))
def test_untrusted_input_and_the_internet_facing_function_cannot_read_other_data(function: str) -> None:
    readable = {kind for kind in UNREADABLE[function]
                if allowed(GRANTS[function], "s3:GetObject", BUCKET, KEYS[kind])}
    assert readable == set()


def test_no_function_can_change_the_bucket_configuration() -> None:
    for logical in FUNCTIONS:
        for statement in statements(STACK.resolver, logical):
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            bad = [a for a in actions if BUCKET_CONFIGURATION.match(a)]
            assert not bad, f"{logical} may {bad}"


def test_a_function_that_reads_possibly_missing_keys_may_list_so_a_miss_is_a_404() -> None:
    # Without s3:ListBucket, S3 answers 403 for a missing key and "no such voice" becomes an error.
    for logical in set(FUNCTIONS) - {"JoinSegmentsFunction"}:  # joins only segments it was told exist
        if any("s3:GetObject" in g.actions for g in GRANTS[logical]):
            assert allowed(GRANTS[logical], "s3:ListBucket", BUCKET, prefix="voices/"), logical


def test_version_listing_is_confined_to_voices() -> None:
    listers = {f: [g for g in GRANTS[f] if "s3:ListBucketVersions" in g.actions] for f in FUNCTIONS}
    assert {f for f, g in listers.items() if g} == {"ApiFunction"}
    (grant,) = listers["ApiFunction"]
    assert grant.prefixes == ("voices/*",)
    assert not Grant(grant.actions, grant.resources, grant.prefixes).allows(
        "s3:ListBucketVersions", f"arn:aws:s3:::{BUCKET}", "results/")


def test_the_checks_above_can_fail() -> None:
    """A bucket-wide grant is seen as a write everywhere."""
    wide = [Grant(frozenset({"s3:PutObject"}), (f"arn:aws:s3:::{BUCKET}/*",), None)]
    assert all(allowed(wide, "s3:PutObject", BUCKET, key) for key in KEYS.values())
    assert BUCKET_CONFIGURATION.match("s3:PutLifecycleConfiguration") and BUCKET_CONFIGURATION.match("s3:*")
