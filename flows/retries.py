"""When a failed task is worth retrying: a busy warehouse or a flaky server, never a wrong setting.

Every retrying task in ``flows/`` passes ``retry_condition_fn=transient_only``: a
``ConfigError`` (no warehouse key, a broken sources file) fails at once with its one-line
message instead of three retries with backoff and a traceback each.
"""

from __future__ import annotations

from typing import Any

from prefect.client.schemas.objects import State, TaskRun

from tierhub.errors import ConfigError


def failure_of(state: State[Any]) -> BaseException | None:
    """The exception a failed state holds (None if it cannot be read)."""
    if isinstance(state.data, BaseException):
        return state.data
    try:
        error = state.result(raise_on_failure=False)
    except Exception:  # an unreadable result: leave the retry policy as configured
        return None
    return error if isinstance(error, BaseException) else None


def transient_only(task: Any, task_run: TaskRun, state: State[Any]) -> bool:
    """Retry unless the failure is a configuration error (``ConfigError`` is never transient)."""
    return not isinstance(failure_of(state), ConfigError)
