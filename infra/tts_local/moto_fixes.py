"""Where moto's ASL interpreter differs from Step Functions on a path this project takes on purpose,
corrected while a local stack runs (installed and removed by tts_local.stack).

A Map iteration that fails with a `States.*` error (a segment's engine timing out: `States.Timeout`)
makes moto 5.2's iteration worker build a CustomErrorName of it, which refuses the `States.` prefix:
the ValueError is logged as "Unhandled termination error in item processor worker", turned into
`States.Runtime` for the Map, and logged again as "State Task encountered an unhandled exception that lead
to a State.Runtime error". Step Functions fails the Map with the iteration's own error. Here the name
is built as the States error it is, so the Map fails with `States.Timeout` and nothing is logged;
a truly unexpected exception still is."""

from __future__ import annotations

from typing import Any

from moto.stepfunctions.parser.asl.component.common.error_name.custom_error_name import CustomErrorName
from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name import StatesErrorName
from moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration import iteration_worker

_STATES_PREFIX = "States."


def _error_name(error_name: str) -> Any:
    """What the iteration worker names an iteration's error with: a States error for a `States.*` name."""
    if error_name.startswith(_STATES_PREFIX):
        try:
            return StatesErrorName.from_name(error_name)
        except ValueError:  # a States.* name moto does not know: its own (logged) path
            pass
    return CustomErrorName(error_name=error_name)


def install() -> None:
    iteration_worker.CustomErrorName = _error_name  # type: ignore[assignment,misc]


def uninstall() -> None:
    iteration_worker.CustomErrorName = CustomErrorName  # type: ignore[misc]
