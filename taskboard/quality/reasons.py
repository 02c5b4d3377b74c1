"""Structured reject reasons: a project's list, the rule a reject meets, and the record of each reject.

Once a project has reasons, a reviewer's reject needs one of its active reasons, and a comment when
the reason asks for it; a project with none keeps the plain rule (a comment says what to fix).
`work/flow.item_reject` asks `reject_reason` before it writes and `rejection_record` after, so the
"errors by reason" charts count every reject once.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Max

from taskboard.accounts.models import User
from taskboard.annotation.models import AnnotationTask, TaskItem, TaskType
from taskboard.projects.models import Project
from taskboard.quality.models import Overturn, Rejection, RejectReason
from taskboard.quality.services import require_manager


def reject_reason(*, project_id: int, reason_id: int | None, comment: str) -> RejectReason | None:
    """The reason a reject gives, checked against the project's rule."""
    offered = RejectReason.objects.filter(project_id=project_id, active=True)
    if reason_id is None:
        if offered.exists():
            raise ValidationError({"reason": "Choose a reason for sending this back."})
        if not comment:
            raise ValidationError({"comment": "Say what needs fixing."})
        return None
    reason = offered.filter(pk=reason_id).first()
    if reason is None:
        raise ValidationError({"reason": "Choose one of this project's reasons."})
    if reason.needs_comment and not comment:
        raise ValidationError({"comment": f"“{reason.name}” needs a comment: say what needs fixing."})
    return reason


def rework_note(reason: RejectReason | None, comment: str) -> str:
    """What the annotator reads on the item."""
    if reason is None:
        return comment
    return f"{reason.name}: {comment}" if comment else reason.name


def rejection_record(
    *, qa_task_item: TaskItem, parents: list[TaskItem], reason: RejectReason | None, comment: str, by: User
) -> list[Rejection]:
    """One row per copy sent back, to the annotator who did it, and an overturn for every verdict a
    reviewer had given the item in the parent's QA tasks (this one included). Called before the
    reject clears those verdicts."""
    qa_task = qa_task_item.task
    assert qa_task.parent_id is not None  # only QA items are rejected
    rows = [
        Rejection(
            qa_task=qa_task,
            task_id=qa_task.parent_id,
            item_id=qa_task_item.item_id,
            qa_task_item=qa_task_item,
            reviewer=by,
            annotator_id=parent.status_by_id or parent.assignment.assignee_id,
            reason=reason,
            comment=comment,
        )
        for parent in parents
    ]
    made = Rejection.objects.bulk_create(rows)
    verdicts = TaskItem.objects.filter(
        task__parent_id=qa_task.parent_id,
        task__type=TaskType.QA,
        item_id=qa_task_item.item_id,
        status__isnull=False,
        status_by__isnull=False,
    ).values_list("task_id", "status_by_id", "status")
    Overturn.objects.bulk_create(
        Overturn(
            rejection=made[0], reviewer_id=reviewer_id, qa_task_id=task_id, item_id=qa_task_item.item_id, status=s
        )
        for task_id, reviewer_id, s in verdicts
        if made
        and reviewer_id is not None
        and s is not None
        # Changing one's own mind on this very item is not an overturn.
        and not (task_id == qa_task.pk and reviewer_id == by.pk)
    )
    return made


@transaction.atomic
def reason_add(*, project: Project, by: User, name: str, needs_comment: bool = False) -> RejectReason:
    require_manager(project, by)
    name = (name or "").strip()
    if not name or len(name) > 100:
        raise ValidationError({"name": "A reason has a name of 1 to 100 characters."})
    if RejectReason.objects.filter(project=project, name=name).exists():
        raise ValidationError({"name": f"The project already has the reason “{name}”."})
    last = RejectReason.objects.filter(project=project).aggregate(m=Max("position"))["m"]
    return RejectReason.objects.create(
        project=project, name=name, needs_comment=needs_comment, position=(last or 0) + 1
    )


@transaction.atomic
def reason_set_active(*, reason: RejectReason, by: User, active: bool) -> RejectReason:
    """Retire a reason (reviewers no longer see it; its counts stay) or bring it back."""
    require_manager(reason.project, by)
    RejectReason.objects.filter(pk=reason.pk).update(active=active)
    reason.active = active
    return reason


def reasons_offered(project_id: int) -> list[RejectReason]:
    return list(RejectReason.objects.filter(project_id=project_id, active=True))


def task_of(task: AnnotationTask) -> AnnotationTask:
    """The annotation task whose errors a page shows: a QA task's parent, or the task itself."""
    return task.parent if task.parent is not None else task
