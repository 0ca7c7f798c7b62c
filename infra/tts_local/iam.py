"""The S3 permissions template.yaml gives each function, read as IAM would evaluate them (Allow
statements, ARN wildcards, `s3:prefix` conditions). The static tests check the policy with it, and the
local stack enforces it on every S3 call a function makes, so a key a function uses without holding it
fails on the local stack as it would on AWS (AccessDenied)."""

from __future__ import annotations

import contextvars
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any

from botocore.exceptions import ClientError

from tts_local.template import Resolver, resources_of_type

# The function whose code is running (set by the local stack around each invocation; None: the
# state machine's interpreter, a test, or the CLI, which act with the operator's rights).
CURRENT_FUNCTION: contextvars.ContextVar[str | None] = contextvars.ContextVar("tts_local_function", default=None)

# What a call of each S3 operation the code uses needs, as IAM names it.
OPERATION_ACTIONS = {
    "PutObject": "s3:PutObject", "GetObject": "s3:GetObject", "HeadObject": "s3:GetObject",
    "DeleteObject": "s3:DeleteObject", "CopyObject": "s3:PutObject", "ListObjectsV2": "s3:ListBucket",
    "ListObjectVersions": "s3:ListBucketVersions", "DeleteObjects": "s3:DeleteObject",
}
# A versioned read or delete needs its own action.
VERSIONED_ACTIONS = {"s3:GetObject": "s3:GetObjectVersion", "s3:DeleteObject": "s3:DeleteObjectVersion"}
BUCKET_ACTIONS = frozenset({"s3:ListBucket", "s3:ListBucketVersions"})


@dataclass(frozen=True)
class Grant:
    actions: frozenset[str]
    resources: tuple[str, ...]
    prefixes: tuple[str, ...] | None  # an s3:prefix StringLike condition (None: no condition)

    def allows(self, action: str, resource: str, prefix: str | None = None) -> bool:
        if not any(fnmatchcase(action, pattern) for pattern in self.actions):
            return False
        if not any(fnmatchcase(resource, pattern) for pattern in self.resources):
            return False
        return self.prefixes is None or (prefix is not None and any(fnmatchcase(prefix, p) for p in self.prefixes))


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def statements(resolver: Resolver, logical_id: str) -> list[dict[str, Any]]:
    """Every inline IAM statement of one function's Policies, resolved (SAM policy templates are skipped:
    the static test refuses the S3 ones)."""
    policies = resolver.template["Resources"][logical_id]["Properties"].get("Policies", [])
    found = []
    for policy in resolver.resolve(_as_list(policies)):
        if isinstance(policy, dict) and "Statement" in policy:
            found.extend(_as_list(policy["Statement"]))
    return found


def s3_grants(resolver: Resolver, logical_id: str) -> list[Grant]:
    grants = []
    for statement in statements(resolver, logical_id):
        actions = frozenset(a for a in _as_list(statement["Action"]) if a.startswith("s3:") or a == "*")
        if statement.get("Effect") != "Allow" or not actions:
            continue
        condition = statement.get("Condition", {}).get("StringLike", {}).get("s3:prefix")
        grants.append(Grant(actions, tuple(_as_list(statement["Resource"])),
                            tuple(_as_list(condition)) if condition is not None else None))
    return grants


def function_grants(resolver: Resolver) -> dict[str, list[Grant]]:
    return {logical: s3_grants(resolver, logical)
            for logical in resources_of_type(resolver.template, "AWS::Serverless::Function")}


def object_arn(bucket: str, key: str) -> str:
    return f"arn:aws:s3:::{bucket}/{key}"


def bucket_arn(bucket: str) -> str:
    return f"arn:aws:s3:::{bucket}"


def allowed(grants: list[Grant], action: str, bucket: str, key: str | None = None, *,
            prefix: str | None = None) -> bool:
    resource = bucket_arn(bucket) if action in BUCKET_ACTIONS or key is None else object_arn(bucket, key)
    return any(g.allows(action, resource, prefix) for g in grants)


def required(operation: str, params: dict[str, Any]) -> list[tuple[str, str | None, str | None]]:
    """(action, key, list prefix) that one S3 call needs; a copy needs to read its source too."""
    action = OPERATION_ACTIONS.get(operation)
    if action is None:
        return []
    if params.get("VersionId") and action in VERSIONED_ACTIONS:
        action = VERSIONED_ACTIONS[action]
    if action in BUCKET_ACTIONS:
        return [(action, None, str(params.get("Prefix", "")))]
    needs: list[tuple[str, str | None, str | None]] = [(action, params.get("Key"), None)]
    source = params.get("CopySource")
    if isinstance(source, str):  # "bucket/key", as boto3 also takes it
        source = {"Key": source.split("?", 1)[0].split("/", 1)[1]}
    if isinstance(source, dict):
        read = "s3:GetObjectVersion" if source.get("VersionId") else "s3:GetObject"
        needs.append((read, str(source["Key"]), None))
    return needs


class Enforcer:
    """A botocore `before-parameter-build.s3` handler (it sees the call's own parameters, presigning
    included): AccessDenied for a call the running function's grants do not allow."""

    def __init__(self, resolver: Resolver) -> None:
        self.grants = function_grants(resolver)
        self.denied: list[tuple[str, str, str | None]] = []  # (function, action, key): for tests
        self.calls: list[tuple[str, str, str, str | None]] = []  # (function, operation, action, key or prefix)

    def __call__(self, model: Any, params: dict[str, Any], **_: Any) -> None:
        function = CURRENT_FUNCTION.get()
        if function is None:
            return
        for action, key, prefix in required(model.name, params):
            self.calls.append((function, model.name, action, key if prefix is None else prefix))
            if not allowed(self.grants[function], action, str(params.get("Bucket", "")), key, prefix=prefix):
                self.denied.append((function, action, key or prefix))
                raise ClientError({"Error": {"Code": "AccessDenied", "Message": (
                    f"{function} is not allowed {action} on {key or prefix!r} (template.yaml: its Policies)")}},
                    model.name)
