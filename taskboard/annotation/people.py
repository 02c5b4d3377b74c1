"""People taken off the flow of new work for a while: paused in one task, or in every task of a
project. A paused person pulls nothing and is handed no new batch; the work they hold stays theirs
(a manager can move it). Pausing and resuming tell the person and the project's managers."""

from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Exists, Q
from django.utils import timezone

from taskboard.accounts.models import User
from taskboard.annotation.models import AnnotationTask, Pause
from taskboard.notifications.models import EventKind
from taskboard.notifications.services import notify
from taskboard.projects.access import manager_ids, role_of
from taskboard.projects.models import Project


def pause_q(*, user_id: int, task: AnnotationTask) -> Q:
    """The pauses that keep `user_id` from new work in `task`: its own, or one over the whole project."""
    return Q(user_id=user_id) & (Q(task_id=task.pk) | Q(task__isnull=True, project_id=task.project_id))


def paused_exists(*, user_id: Any, task_id: Any, project_id: Any) -> Exists:
    """`pause_q` as an expression for reading with other rows: pass OuterRefs."""
    return Exists(
        Pause.objects.filter(Q(user_id=user_id) & (Q(task_id=task_id) | Q(task__isnull=True, project_id=project_id)))
    )


def is_paused(*, user: User, task: AnnotationTask) -> bool:
    return Pause.objects.filter(pause_q(user_id=user.pk, task=task)).exists()


@transaction.atomic
def pause_person(
    *, project: Project, user: User, by: User | None, task: AnnotationTask | None = None, reason: str = ""
) -> Pause:
    """Pause `user` in `task` (or, with no task, everywhere in `project`). Pausing twice keeps the first."""
    if task is not None and task.project_id != project.pk:
        raise ValidationError({"task": "The task is not in this project."})
    if role_of(user, project) is None:
        raise ValidationError({"user": f"{user.email} is not a member of this project."})
    pause, made = Pause.objects.get_or_create(
        project=project, user=user, task=task, defaults={"reason": reason, "by": by}
    )
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
