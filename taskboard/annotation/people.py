"""People taken off the flow of new work for a while: paused in one task, or in every task of a
project. A paused person pulls nothing and is handed no new batch; the work they hold stays theirs
(a manager can move it). A pause that stops work (a quality rule's) also keeps them from setting
statuses there. Pausing and resuming tell the person and the project's managers."""

from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from taskboard.accounts.models import User
from taskboard.annotation.models import AnnotationTask, Pause
from taskboard.notifications.models import EventKind
from taskboard.notifications.services import notify
from taskboard.projects.access import manager_ids, role_of
from taskboard.projects.models import Project


def _holding(*, task_id: Any, project_id: Any) -> Q:
    """The pauses that hold in a task: its own, or one over the whole project (values or OuterRefs)."""
    return Q(task_id=task_id) | Q(task__isnull=True, project_id=project_id)


def pause_q(*, user_id: int, task: AnnotationTask) -> Q:
    """The pauses that keep `user_id` from new work in `task`."""
    return Q(user_id=user_id) & _holding(task_id=task.pk, project_id=task.project_id)


def paused_exists(*, user_id: Any, task_id: Any, project_id: Any, stopping: bool = False) -> Exists:
    """`pause_q` as an expression for reading with other rows: pass OuterRefs. `stopping`: only the
    pauses that stop work (`stop_of`)."""
    pauses = Pause.objects.filter(Q(user_id=user_id) & _holding(task_id=task_id, project_id=project_id))
    return Exists(pauses.filter(stops_work=True) if stopping else pauses)


class WorkRefused(PermissionDenied):
    """The person may not work in the task at all (a 403 for the whole task, not one item); the
    message says why and what lifts it."""


def is_paused(*, user: User, task: AnnotationTask) -> bool:
    return Pause.objects.filter(pause_q(user_id=user.pk, task=task)).exists()


# Read with the task's row lock (`stops_exist`): whether anyone at all is stopped there. Almost never,
# so every status change is spared a query on pauses.
STOPS = "_any_stop"


def stops_exist() -> Exists:
    """STOPS for a query over tasks: a pause that stops work in the task, or across its project."""
    return Exists(
        Pause.objects.filter(_holding(task_id=OuterRef("pk"), project_id=OuterRef("project_id")), stops_work=True)
    )


def stop_of(*, user: User, task: AnnotationTask) -> Pause | None:
    """The pause that keeps `user` from working in `task` at all, if one does."""
    if task.__dict__.get(STOPS) is False:
        return None
    return Pause.objects.filter(pause_q(user_id=user.pk, task=task), stops_work=True).first()


def tasks_stopped_in(*, user: User, tasks: list[AnnotationTask]) -> set[int]:
    """Of `tasks`, those where a pause that stops work holds `user`: one query, for pages that list
    many tasks (My work)."""
    if not tasks:
        return set()
    stopped = AnnotationTask.objects.filter(pk__in=[task.pk for task in tasks]).filter(
        paused_exists(user_id=user.pk, task_id=OuterRef("pk"), project_id=OuterRef("project_id"), stopping=True)
    )
    return set(stopped.values_list("pk", flat=True))


def require_not_stopped(*, user: User, task: AnnotationTask) -> None:
    """Raise WorkRefused when a pause that stops work holds `user` in `task`."""
    stop = stop_of(user=user, task=task)
    if stop is not None:
        raise WorkRefused(f"You are paused in this task until a manager resumes you. {stop.reason}".strip())


@transaction.atomic
def pause_person(
    *,
    project: Project,
    user: User,
    by: User | None,
    task: AnnotationTask | None = None,
    reason: str = "",
    stops_work: bool = False,
) -> Pause:
    """Pause `user` in `task` (or, with no task, everywhere in `project`). Pausing twice keeps the first,
    made to stop work if the second does."""
    if task is not None and task.project_id != project.pk:
        raise ValidationError({"task": "The task is not in this project."})
    if role_of(user, project) is None:
        raise ValidationError({"user": f"{user.email} is not a member of this project."})
    pause, made = Pause.objects.get_or_create(
        project=project, user=user, task=task, defaults={"reason": reason, "by": by, "stops_work": stops_work}
    )
    if not made and stops_work and not pause.stops_work:
        pause.stops_work, pause.reason, pause.by = True, reason or pause.reason, by
        pause.save(update_fields=["stops_work", "reason", "by"])
        made = True  # told again: what the pause means has changed
    if made:
        where = f"in {task.name}" if task is not None else f"in every task of {project.name}"
        managers = list(manager_ids(project))
        notify(
            kind=EventKind.PAUSED,
            recipients=[user.pk, *managers],
            event_key=f"paused:{pause.pk}",
            title=f"{user.email} is paused {where}",
            body=reason,
            project=project,
        )
    return pause


@transaction.atomic
def resume_person(*, project: Project, user: User, by: User | None, task: AnnotationTask | None = None) -> int:
    """Lift the pause of `user` in `task` (or the project-wide one); returns how many were lifted."""
    deleted, _ = Pause.objects.filter(project=project, user=user, task=task).delete()
    if deleted:
        notify(
            kind=EventKind.PAUSED,
            recipients=[user.pk],
            event_key=f"resumed:{project.pk}:{user.pk}:{task.pk if task else 0}:{timezone.now().timestamp()}",
            title=f"You can take new work {'in ' + task.name if task else 'again'}",
            project=project,
        )
    return deleted
