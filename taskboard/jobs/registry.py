"""Which function runs each kind of job. Each app registers its own runners (`@job_runner("kind")`
in the app's module that holds them, imported by its AppConfig.ready), so the jobs app names none."""

from collections.abc import Callable
from typing import Any

# runner(*, job, progress) -> the job's result (JSON), run inside the job's one transaction.
Runner = Callable[..., dict[str, Any]]

_RUNNERS: dict[str, Runner] = {}


def job_runner(kind: str) -> Callable[[Runner], Runner]:
    def register(runner: Runner) -> Runner:
        if _RUNNERS.get(kind, runner) is not runner:
            raise RuntimeError(f"Two runners for the job kind {kind!r}.")
        _RUNNERS[kind] = runner
        return runner

    return register


def runner_for(kind: str) -> Runner | None:
    return _RUNNERS.get(kind)


def known_kinds() -> frozenset[str]:
    return frozenset(_RUNNERS)
