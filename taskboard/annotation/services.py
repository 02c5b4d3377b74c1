"""Changes to a task as a whole: its settings, closing it, deleting it.

Creating a task is `creation`; its items and assignments change in `moves`; statuses in `statuses`
(and, with what they set off, in `taskboard.work.flow`); pulling in `pulling`.
"""

import enum
from typing import Any, Final

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from taskboard.accounts.models import User
from taskboard.annotation.models import AnnotationTask, StatusCount, TaskItem, TaskStatus
from taskboard.annotation.spec import (
    StatusDef,
    description_problem,
    due_problem,
    metadata_problem,
    name_problem,
    priority_problem,
    statuses_from,
)
from taskboard.annotation.statuses import ensure_status_counts, lock_task, task_state_refresh
from taskboard.projects.access import role_of


class Unset(enum.Enum):
    """A setting an update leaves as it is (`task_update`, a pipeline's `node_update`)."""

    UNSET = "UNSET"

    def __repr__(self) -> str:
        return "UNSET"


UNSET: Final = Unset.UNSET


@transaction.atomic
def task_update(
    *,
    task: AnnotationTask,
    by: User,
    name: Any = UNSET,
    owner: Any = UNSET,
    due_at: Any = UNSET,
    priority: Any = UNSET,
    description: Any = UNSET,
    statuses: Any = UNSET,
    lock_after_due: Any = UNSET,
    metadata: Any = UNSET,
) -> AnnotationTask:
    """Change the settings given; the rules are task creation's (`spec`), so both refuse alike."""
    task = lock_task(task)
    errors: dict[str, str] = {}
    checks: list[tuple[str, str | None]] = []
    if name is not UNSET:
        name = name.strip() if isinstance(name, str) else name
        checks.append(("name", name_problem(name, project=task.project, renaming=task)))
        task.name = name
    if owner is not UNSET:
        if owner is None or role_of(owner, task.project) is None:
            errors["owner"] = "The owner must be a member of the project."
        task.owner = owner
    if due_at is not UNSET:
        checks.append(("due_at", due_problem(due_at)))
        task.due_at = due_at
    if priority is not UNSET:
        checks.append(("priority", priority_problem(priority)))
        task.priority = priority
    if description is not UNSET:
        description = description or ""
        checks.append(("description", description_problem(description)))
        task.description = description
    if lock_after_due is not UNSET:
        task.lock_after_due = bool(lock_after_due)
    if metadata is not UNSET:
        checks.append(("metadata", metadata_problem(metadata)))
        task.metadata = metadata
    errors.update({key: problem for key, problem in checks if problem})
    new_statuses = None
    if statuses is not UNSET:
        try:
            new_statuses = statuses_from(statuses)
        except ValidationError as e:
            errors["statuses"] = e.message_dict["statuses"][0]
        else:
            problem = _statuses_change_problem(task, new_statuses)
            if problem:
                errors["statuses"] = problem
    if errors:
        raise ValidationError(errors)
    task.save()
    if new_statuses is not None:
        keep = [s.key for s in new_statuses]
        TaskStatus.objects.filter(task=task).exclude(key__in=keep).delete()
        StatusCount.objects.filter(assignment__task=task).exclude(status__in=keep).delete()
        for position, status in enumerate(new_statuses):
            TaskStatus.objects.update_or_create(
                task=task, key=status.key, defaults={**status.to_json(), "position": position}
            )
        ensure_status_counts(assignment_ids=list(task.assignments.values_list("pk", flat=True)), keys=keep)
        task_state_refresh(task)
    return task


def _statuses_change_problem(task: AnnotationTask, statuses: tuple[StatusDef, ...]) -> str | None:
    keep = {s.key for s in statuses}
    dropped = set(TaskStatus.objects.filter(task=task).values_list("key", flat=True)) - keep
    in_use = list(TaskItem.objects.filter(task=task, status__in=dropped).values_list("status", flat=True)[:1])
    if dropped and in_use:
        return f"Status “{in_use[0]}” is in use and cannot be removed."
    # Done-ness is counted when an item gets its status (throughput per day, task state, QA
    # intake): flipping it under items that hold the status would leave those counts wrong.
    was_done = dict(TaskStatus.objects.filter(task=task).values_list("key", "is_done"))
    flipped = [s.key for s in statuses if s.key in was_done and was_done[s.key] != s.is_done]
    held = list(
        StatusCount.objects.filter(assignment__task=task, status__in=flipped, count__gt=0)
        .order_by("status")
        .values_list("status", flat=True)[:1]
    )
    if flipped and held:
        return f"Status “{held[0]}” is in use: whether it counts as done cannot change while items have it."
    return None


@transaction.atomic
def task_close(*, task: AnnotationTask, by: User) -> AnnotationTask:
    task = lock_task(task)
    if task.closed_at is None:
        task.closed_at = timezone.now()
        task.save(update_fields=["closed_at", "updated_at"])
    return task


@transaction.atomic
def task_delete(*, task: AnnotationTask, by: User) -> None:
    task = lock_task(task)
    family = [task.pk]
    frontier = [task.pk]
    while frontier:
        frontier = list(AnnotationTask.objects.filter(parent_id__in=frontier).values_list("pk", flat=True))
        family += frontier
    # One set-based delete of the rows first, so the ORM cascade never loads them.
    TaskItem.objects.filter(task_id__in=family).delete()
    task.delete()
