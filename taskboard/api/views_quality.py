"""A task's quality gates and scores: `GET/PATCH /annotationtasks/{id}/quality`.

Dataloop marks honeypot and qualification tasks with `metadata.system.consensusTaskType` and keeps
scores beside; here the gates are settings of any annotation task, read and set through this route
with the same rules as the task's quality page (`taskboard/quality/services.py`)."""

from typing import Any

from taskboard.accounts.http import AuthedHttpRequest
from taskboard.annotation.models import AnnotationTask
from taskboard.api import queries
from taskboard.api.http import api_view, bad_request, json_body
from taskboard.api.ids import api_id
from taskboard.quality import qualification
from taskboard.quality import queries as quality_queries
from taskboard.quality import services as quality_services


def quality_json(task: AnnotationTask) -> dict[str, Any]:
    rule = quality_queries.task_rule(task)
    return {
        "taskId": api_id("task", task.pk),
        "honeypotRate": rule.honeypot_rate,
        "pauseBelow": rule.pause_below,
        "pauseAfter": rule.pause_after,
        "honeypots": quality_queries.honeypot_count(task),
        "qualification": {
            "items": rule.qualification_items,
            "passMark": rule.qualification_pass,
            "attempts": rule.qualification_attempts,
            "people": [
                {"userId": user.email, "passed": q.passed, "attemptsUsed": q.attempts_used, "best": q.best}
                for user, q in qualification.qualification_people(task)
            ],
        },
        "scores": [
            {
                "userId": s.email,
                "answered": s.answered,
                "right": s.right,
                "score": s.rate,
                "paused": s.paused,
            }
            for s in quality_queries.scores(task=task)
        ],
    }


def _int(body: dict[str, Any], key: str, default: int | None) -> int | None:
    value = body.get(key, default)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise bad_request(f"{key}: a whole number.")
    return value


@api_view(["GET", "PATCH"])
def task_quality(request: AuthedHttpRequest, task_id: str):
    task = queries.task_get(request.user, task_id)
    queries.require_manager(request.user, task.project)
    if request.method == "PATCH":
        body = json_body(request)
        rule = quality_queries.task_rule(task)
        quality_services.task_quality_update(
            task=task,
            by=request.user,
            honeypot_rate=_int(body, "honeypotRate", rule.honeypot_rate) or 0,
            pause_below=_int(body, "pauseBelow", rule.pause_below),
            pause_after=_int(body, "pauseAfter", rule.pause_after) or 0,
        )
        wanted = body.get("qualification", {})
        if not isinstance(wanted, dict):
            raise bad_request("qualification: an object with items, passMark and attempts.")
        if wanted:
            qualification.qualification_update(
                task=task,
                by=request.user,
                items=_int(wanted, "items", rule.qualification_items) or 0,
                pass_mark=_int(wanted, "passMark", rule.qualification_pass) or 0,
                attempts=_int(wanted, "attempts", rule.qualification_attempts) or 0,
            )
    return quality_json(task)
