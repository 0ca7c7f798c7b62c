"""Fault injection for local runs, from TTS_LOCAL_FAULTS.

`TTS_LOCAL_FAULTS="primary=error,fallback=throttle"`: the target is a function's short name
(the folder under functions/ without `synthesize_`: primary, fallback, offline, health_probe, ...),
and the fault is applied at the Lambda dispatch boundary, so the state machine sees what a real
Lambda failing that way gives. Or the target is an AWS service (`ssm=unavailable`,
`s3=unavailable`): every call to it, from handlers and from the state machine alike, fails as if
the service could not be reached."""

from __future__ import annotations

import os
import random
import threading
from dataclasses import dataclass

ENV_VAR = "TTS_LOCAL_FAULTS"
SEED_ENV_VAR = "TTS_LOCAL_FAULTS_SEED"
KINDS = {
    "error": "the engine fails for good (non-retryable EngineError)",
    "crash": "the Lambda runtime dies (errorType Runtime.ExitError)",
    "timeout": "the invocation hangs until the state machine's TimeoutSeconds (States.Timeout)",
    "slow:N": "the invocation takes N extra seconds, then runs normally",
    "throttle": "the engine's provider throttles (retryable EngineThrottledError)",
    "unavailable": "the engine cannot be reached (retryable EngineUnavailableError)",
    "flaky:N": "the first N invocations fail with EngineUnavailableError, then it works",
    "intermittent": "every other invocation fails with EngineUnavailableError",
    "chaos:P": "each invocation fails for good (EngineError) with probability P (a random stream per target, "
               "seeded by TTS_LOCAL_FAULTS_SEED and the target)",
    "lambda-throttle": "the Lambda service refuses the invocation (Lambda.TooManyRequestsException)",
}


SERVICES = ("ssm", "s3", "stepfunctions", "secretsmanager")


class FaultSpecError(ValueError):
    pass


@dataclass(frozen=True)
class Fault:
    target: str
    kind: str
    arg: float = 0.0


def parse(spec: str) -> list[Fault]:
    faults: list[Fault] = []
    for item in filter(None, (part.strip() for part in spec.split(","))):
        target, _, kind = item.partition("=")
        name, _, arg = kind.partition(":")
        if not target or name not in {k.split(":")[0] for k in KINDS}:
            raise FaultSpecError(f"{ENV_VAR}: cannot read '{item}'; kinds: {', '.join(KINDS)}")
        needs_arg = f"{name}:N" in KINDS or f"{name}:P" in KINDS
        try:
            value = float(arg) if needs_arg else 0.0
        except ValueError:
            raise FaultSpecError(f"{ENV_VAR}: '{item}' needs a number after '{name}:'") from None
        if needs_arg != bool(arg):
            raise FaultSpecError(f"{ENV_VAR}: '{item}' needs a value after '{name}:'" if needs_arg
                                 else f"{ENV_VAR}: '{item}' takes no value")
        if target.strip() in SERVICES and name != "unavailable":
            raise FaultSpecError(f"{ENV_VAR}: '{item}': a service can only be 'unavailable'")
        faults.append(Fault(target.strip(), name, value))
    return faults


def active(target: str) -> list[Fault]:
    """The faults for one target, read at each invocation so a test or operator can change them."""
    return [f for f in parse(os.environ.get(ENV_VAR, "")) if f.target == target]


class InvocationCounter:
    """Counts invocations per target (flaky and intermittent faults depend on it) and gives each target a
    random stream of its own (chaos faults), seeded from TTS_LOCAL_FAULTS_SEED and the target's name: a
    target's draws never depend on how its invocations interleave with other targets', and one unlucky
    stretch of a stream never hits two targets at once."""

    def __init__(self, seed: str | None = None) -> None:
        self._lock = threading.Lock()
        self._counts: dict[str, int] = {}
        self._seed = os.environ.get(SEED_ENV_VAR, "0") if seed is None else seed
        self._streams: dict[str, random.Random] = {}

    def next(self, target: str) -> int:
        with self._lock:
            self._counts[target] = self._counts.get(target, 0) + 1
            return self._counts[target]

    def draw(self, target: str) -> float:
        """The target's next uniform draw in [0, 1)."""
        with self._lock:
            if target not in self._streams:
                # A string seed is hashed (SHA-512), so neighbouring seeds and names give unrelated streams.
                self._streams[target] = random.Random(f"{self._seed}/{target}")
            return self._streams[target].random()
