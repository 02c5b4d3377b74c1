"""Qualification: before working in a task that asks for it, a person answers N ground-truth items and
must get a pass mark, within a limited number of attempts.

A person who has not passed cannot open the task's items (the work view sends them to the
qualification), pull a batch ("get more", "get next work") or set or clear a status, from a page or
the API (`require_qualified`, asked by the status flow), and is told why. Each attempt draws
N ground-truth items of the task's dataset at random; an answer is right as a honeypot answer is
(`honeypots.is_right`). A manager can give someone their attempts back.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from taskboard.accounts.models import User
from taskboard.annotation.models import AnnotationTask, TaskType
from taskboard.annotation.people import WorkRefused
from taskboard.quality.honeypots import is_right
from taskboard.quality.models import GroundTruth, QualificationAttempt, TaskQuality
from taskboard.quality.reads import RULE, known_absent
from taskboard.quality.services import require_manager


class NotQualified(WorkRefused):
    """The person has not passed the task's qualification; the message says why and what is left."""


@dataclass(frozen=True)
class Qualification:
    required: bool
    items: int = 0
    pass_mark: int = 0
    attempts_allowed: int = 0
    attempts_used: int = 0
    passed: bool = False
    open_attempt: QualificationAttempt | None = None
    best: int | None = None  # best percent right so far

    @property
    def attempts_left(self) -> int:
        return max(0, self.attempts_allowed - self.attempts_used)

    @property
    def blocked(self) -> bool:
        return self.required and not self.passed

    @property
    def why(self) -> str:
        if not self.blocked:
            return ""
        if self.attempts_left == 0 and self.open_attempt is None:
            return (
                f"This task needs a passed qualification ({self.pass_mark}% right) and you have used all "
                f"{self.attempts_allowed} attempts. Ask a manager for another."
            )
        return (
            f"This task needs a qualification first: {self.items} items, {self.pass_mark}% right to pass, "
            f"{self.attempts_left} attempt{'s' if self.attempts_left != 1 else ''} left."
        )


# The task quality rows that ask for a qualification: the one rule, for one task or many.
ASKS_FOR_QUALIFICATION = Q(qualification_items__gt=0, task__type=TaskType.ANNOTATION)


def qualification_of(*, task: AnnotationTask, user: User) -> Qualification:
    if task.type != TaskType.ANNOTATION or known_absent(task, RULE):
        return Qualification(required=False)
    rule = TaskQuality.objects.filter(ASKS_FOR_QUALIFICATION, task=task).first()
    if rule is None:
        return Qualification(required=False)
    attempts = list(QualificationAttempt.objects.filter(task=task, user=user).order_by("started_at"))
    finished = [a for a in attempts if a.passed is not None]
    best = max((round(100 * a.right / max(len(a.item_ids), 1)) for a in finished), default=None)
    return Qualification(
        required=True,
        items=rule.qualification_items,
        pass_mark=rule.qualification_pass,
        attempts_allowed=rule.qualification_attempts,
        attempts_used=len(finished),
        passed=any(a.passed for a in finished),
        open_attempt=next((a for a in attempts if a.passed is None), None),
        best=best,
    )


def tasks_to_qualify_for(*, user: User, task_ids: Iterable[int]) -> set[int]:
    """Of `task_ids`, the tasks that ask `user` for a qualification they have not passed: one query,
    for pages that list many tasks (My work) and mark the gated ones before they are clicked."""
    task_ids = list(task_ids)
    if not task_ids:
        return set()
    passed = QualificationAttempt.objects.filter(task_id=OuterRef("task_id"), user_id=user.pk, passed=True)
    gated = TaskQuality.objects.filter(ASKS_FOR_QUALIFICATION, task_id__in=task_ids).exclude(Exists(passed))
    return set(gated.values_list("task_id", flat=True))


def require_qualified(*, task: AnnotationTask, user: User) -> None:
    """The gate on working in a task: pulling and every status change, whichever door they came by."""
    state = qualification_of(task=task, user=user)
    if state.blocked:
        raise NotQualified(state.why)


@transaction.atomic
def qualification_update(*, task: AnnotationTask, by: User, items: int, pass_mark: int, attempts: int) -> TaskQuality:
    require_manager(task.project, by)
    errors: dict[str, str] = {}
    if items and task.type != TaskType.ANNOTATION:
        errors["qualification_items"] = "Qualifications are for annotation tasks."
    if not 0 <= items <= 100:
        errors["qualification_items"] = "A qualification has 0 (none) to 100 items."
    elif items:
        available = GroundTruth.objects.filter(project=task.project, item__dataset_id=task.dataset_id).count()
        if available < items:
            errors["qualification_items"] = (
                f"The dataset has {available} ground-truth item{'s' if available != 1 else ''}; "
                f"a qualification of {items} needs that many."
            )
    if not 1 <= pass_mark <= 100:
        errors["qualification_pass"] = "The pass mark is a percentage from 1 to 100."
    if not 1 <= attempts <= 20:
        errors["qualification_attempts"] = "Allow 1 to 20 attempts."
    if errors:
        raise ValidationError(errors)
    row, _ = TaskQuality.objects.update_or_create(
        task=task,
        defaults={"qualification_items": items, "qualification_pass": pass_mark, "qualification_attempts": attempts},
    )
    return row


@transaction.atomic
def attempt_start(*, task: AnnotationTask, user: User, seed: int | None = None) -> QualificationAttempt:
    """Open an attempt (or return the one already open) with N ground-truth items drawn at random."""
    state = qualification_of(task=task, user=user)
    if not state.required:
        raise ValidationError({"qualification": "This task needs no qualification."})
    if state.passed:
        raise ValidationError({"qualification": "You have already passed this qualification."})
    if state.open_attempt is not None:
        return state.open_attempt
    if state.attempts_left == 0:
        raise ValidationError({"qualification": state.why})
    pool = list(
        GroundTruth.objects.filter(project=task.project, item__dataset_id=task.dataset_id)
        .order_by("item_id")
        .values_list("item_id", flat=True)
    )
    if len(pool) < state.items:
        raise ValidationError({"qualification": "The qualification is not ready yet: too few ground-truth items."})
    chosen = random.Random(seed).sample(pool, state.items)
    return QualificationAttempt.objects.create(task=task, user=user, item_ids=chosen)


@transaction.atomic
def attempt_submit(
    *, attempt: QualificationAttempt, by: User, answers: dict[int, tuple[str, list[str]]]
) -> QualificationAttempt:
    """Check every answer (item id → status and label names) and close the attempt: passed or not."""
    attempt = QualificationAttempt.objects.select_for_update().get(pk=attempt.pk)
    if attempt.user_id != by.pk:
        raise ValidationError({"qualification": "This is someone else's attempt."})
    if attempt.passed is not None:
        raise ValidationError({"qualification": "This attempt is already finished."})
    missing = [i for i in attempt.item_ids if i not in answers or not answers[i][0]]
    if missing:
        raise ValidationError({"qualification": f"Answer every item: {len(missing)} still have no status."})
    truths = {
        t.item_id: t
        for t in GroundTruth.objects.filter(project_id=attempt.task.project_id, item_id__in=attempt.item_ids)
    }
    rule = TaskQuality.objects.get(task_id=attempt.task_id)
    checked: dict[str, dict[str, object]] = {}
    right = 0
    for item_id in attempt.item_ids:
        status, labels = answers[item_id]
        truth = truths.get(item_id)
        ok = truth is not None and is_right(truth, status=status, labels=sorted(set(labels)))
        right += int(ok)
        checked[str(item_id)] = {"status": status, "labels": sorted(set(labels)), "right": ok}
    attempt.answers = checked
    attempt.right = right
    attempt.passed = 100 * right >= rule.qualification_pass * len(attempt.item_ids)
    attempt.finished_at = timezone.now()
    attempt.save(update_fields=["answers", "right", "passed", "finished_at"])
    return attempt


@transaction.atomic
def attempts_reset(*, task: AnnotationTask, user: User, by: User) -> int:
    """A manager gives a person their attempts back (the record of failed ones goes)."""
    require_manager(task.project, by)
    deleted, _ = QualificationAttempt.objects.filter(task=task, user=user, passed=False).delete()
    return deleted


def qualification_people(task: AnnotationTask) -> list[tuple[User, Qualification]]:
    """Everyone who tried the task's qualification, with where they stand."""
    users = User.objects.filter(pk__in=QualificationAttempt.objects.filter(task=task).values("user_id")).order_by(
        "email"
    )
    return [(u, qualification_of(task=task, user=u)) for u in users]
