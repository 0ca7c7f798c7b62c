"""checkov, the security scanner, on template.yaml: every check passes or is suppressed in the template
with a one-line reason. checkov lives in .venv-checkov (its boto3 pin clashes with moto's)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tts_local.template import ROOT, load_template

CHECKOV = ROOT / ".venv-checkov" / "bin" / "checkov"


def scan(template: Path) -> dict[str, Any]:
    assert CHECKOV.exists(), "checkov missing: run the tests through `make test`"
    # --skip-download: no call to Prisma Cloud for guidelines (tests stay off the network).
    run = subprocess.run([str(CHECKOV), "-f", str(template), "--framework", "cloudformation", "--skip-download",
                          "--quiet", "--output", "json"], capture_output=True, text=True, check=False,
                         env={"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/tmp"),
                              "BC_SKIP_MAPPING": "TRUE"})
    assert run.stdout, run.stderr
    report: dict[str, Any] = json.loads(run.stdout)
    report["returncode"] = run.returncode
    return report


def failures(report: dict[str, Any]) -> list[str]:
    return [f"{c['check_id']} {c['resource']}: {c['check_name']}" for c in report["results"]["failed_checks"]]


@pytest.mark.linter
def test_checkov_passes_on_the_template() -> None:
    report = scan(ROOT / "template.yaml")
    assert failures(report) == [] and report["returncode"] == 0
    assert report["summary"]["passed"] > 40  # it really scanned the resources


def test_every_suppression_gives_a_one_line_reason() -> None:
    skips = [(name, skip) for name, spec in load_template()["Resources"].items()
             for skip in (spec.get("Metadata") or {}).get("checkov", {}).get("skip", [])]
    assert skips
    for name, skip in skips:
        reason = skip.get("comment", "")
        assert skip["id"].startswith("CKV_") and len(reason) > 20 and "\n" not in reason, (name, skip)


@pytest.mark.linter
def test_checkov_fails_a_template_that_loses_a_fix(tmp_path: Path) -> None:
    """The scan can fail: the bucket without versioning is caught."""
    text = (ROOT / "template.yaml").read_text()
    versioning = "      VersioningConfiguration:"
    assert versioning in text
    broken = text.replace(versioning, "      NoVersioningConfiguration:")
    (tmp_path / "template.yaml").write_text(broken)
    assert "CKV_AWS_21 AWS::S3::Bucket.AudioBucket" in " ".join(failures(scan(tmp_path / "template.yaml")))
