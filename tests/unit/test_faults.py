from __future__ import annotations

import pytest

from tts_local import faults


def test_fault_specs_parse() -> None:
    assert faults.parse("primary=error, fallback=slow:2.5,ssm=unavailable,primary=chaos:0.1") == [
        faults.Fault("primary", "error"), faults.Fault("fallback", "slow", 2.5),
        faults.Fault("ssm", "unavailable"), faults.Fault("primary", "chaos", 0.1)]
    assert faults.parse("") == []


@pytest.mark.parametrize("spec", ["primary", "primary=explode", "primary=slow", "primary=slow:x",
                                  "primary=error:3", "ssm=error", "=error"])
def test_bad_fault_specs_are_refused(spec: str) -> None:
    with pytest.raises(faults.FaultSpecError):
        faults.parse(spec)


def test_active_reads_the_environment_each_time(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(faults.ENV_VAR, "primary=error")
    assert [f.kind for f in faults.active("primary")] == ["error"]
    monkeypatch.setenv(faults.ENV_VAR, "fallback=error")
    assert faults.active("primary") == []
