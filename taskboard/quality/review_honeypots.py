"""Review honeypots: known-wrong answers seeded into a reviewer's queue, to measure each reviewer's
catch rate.

A QA task's honeypot rate is the share of each reviewer's queue that is known-wrong answers (a
pulling QA task: of its queue). Seeding tops every queue up to it: ground-truth items of its dataset
that are in neither the QA task nor the task it reviews (nor were decoys there before) join that
reviewer's queue (or the pulling queue) at random places, each shown with a wrong answer made from
the truth (another status, or the labels with one missing or one wrong added) as if one of the
reviewed task's annotators gave it. A reject is a catch; a done status is a miss. Either way the
decoy then leaves the queue's figures: a caught one is removed from the QA task, a missed one counts
for nobody's annotator scorecard (it has no parent).
"""

from __future__ import annotations

import datetime
import random
from dataclasses import dataclass
from typing import NamedTuple

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Count, Max, Q
from django.utils import timezone

from taskboard.accounts.models import User
from taskboard.annotation.models import AnnotationTask, TaskItem, TaskStatus, TaskType
from taskboard.annotation.moves import task_add_items, task_remove_items
from taskboard.annotation.selection import Selection
from taskboard.annotation.statuses import StatusChange
from taskboard.datasets.models import Label
from taskboard.quality.honeypots import scatter, still_wanted
from taskboard.quality.models import GroundTruth, ReviewHoneypot, TaskQuality
from taskboard.quality.reads import DECOY, known_absent
from taskboard.quality.services import require_manager


def _wrong_answer(
    truth: GroundTruth, statuses: list[str], labels: list[str], rng: random.Random
) -> tuple[str, list[str]]:
    others = [s for s in statuses if s != truth.status]
    if truth.labels and (not others or rng.random() < 0.5):
        shown = list(truth.labels)
        spare = [name for name in labels if name not in shown]
        if spare and (len(shown) == 1 or rng.random() < 0.5):
            shown.append(rng.choice(spare))
        else:
            shown.remove(rng.choice(shown))
        return truth.status, sorted(shown)
    if others:
        return rng.choice(others), list(truth.labels)
    raise ValidationError({"count": "The reviewed task offers no status or label to make a wrong answer from."})


@transaction.atomic
def review_honeypots_seed(*, qa_task: AnnotationTask, by: User, seed: int | None = None) -> int:
    """Top each reviewer's queue up to the QA task's honeypot rate (percent of the queue that is
    known-wrong answers; a pulling QA task's queue as a whole). Returns how many joined."""
    require_manager(qa_task.project, by)
    parent = qa_task.parent
    if qa_task.type != TaskType.QA or parent is None:
        raise ValidationError({"honeypot_rate": "Review honeypots go into QA tasks."})
    rate = TaskQuality.objects.filter(task=qa_task).values_list("honeypot_rate", flat=True).first() or 0
    if rate <= 0:
        raise ValidationError({"honeypot_rate": "Set a review honeypot rate first."})
    queues = _queues(qa_task)
    if not queues:
        raise ValidationError({"honeypot_rate": "The QA task has no reviewer to seed."})
    wanted = {
        queue: still_wanted(regular=total - have, have=have, rate=rate) for queue, (total, have) in queues.items()
    }
    if not any(wanted.values()):
        return 0
    pool = list(
        GroundTruth.objects.filter(project=qa_task.project, item__dataset_id=qa_task.dataset_id)
        .exclude(item_id__in=TaskItem.objects.filter(task=parent).values("item_id"))
        .exclude(item_id__in=TaskItem.objects.filter(task=qa_task).values("item_id"))
        .exclude(item_id__in=ReviewHoneypot.objects.filter(qa_task=qa_task).values("item_id"))
        .order_by("item_id")
    )
    if not pool:
        raise ValidationError({"honeypot_rate": "No ground-truth item is left that the reviewed task does not hold."})
    rng = random.Random(seed)
    rng.shuffle(pool)
    statuses = list(TaskStatus.objects.filter(task=parent, is_done=True).values_list("key", flat=True))
    labels = list(Label.objects.filter(recipe_id=parent.recipe_id).values_list("name", flat=True))
    annotators = list(
        parent.assignments.filter(kind="work", assignee__isnull=False).values_list("assignee_id", flat=True)
    )
    reviewers: dict[int, User] = {
        a.pk: a.assignee
        for a in qa_task.assignments.filter(pk__in=[q for q in queues if q]).select_related("assignee")
        if a.assignee is not None  # _queues keeps only reviewers with a person
    }
    decoys: list[ReviewHoneypot] = []
    for queue, count in wanted.items():
        chosen, pool = pool[:count], pool[count:]
        if not chosen:
            continue
        for truth in chosen:
            status, shown = _wrong_answer(truth, statuses, labels, rng)
            decoys.append(
                ReviewHoneypot(
                    qa_task=qa_task,
                    item_id=truth.item_id,
                    shown_status=status,
                    shown_labels=shown,
                    shown_as_id=rng.choice(annotators) if annotators else None,
                )
            )
        selection = Selection(mode="list", item_ids=tuple(sorted(t.item_id for t in chosen)))
        if queue is None:
            task_add_items(task=qa_task, selection=selection, by=by, to_queue=True)
        else:
            task_add_items(task=qa_task, selection=selection, by=by, assignees=[reviewers[queue]])
    ReviewHoneypot.objects.bulk_create(decoys)
    scatter(task=qa_task, item_ids=[d.item_id for d in decoys], rng=rng)
    return len(decoys)


def _queues(qa_task: AnnotationTask) -> dict[int | None, tuple[int, int]]:
    """{reviewer's assignment id (None: a pulling task's queue): (items, of which decoys)}."""
    if qa_task.is_pulling:
        queue = TaskItem.objects.filter(task=qa_task, copy=0)
        decoys = queue.filter(item_id__in=ReviewHoneypot.objects.filter(qa_task=qa_task).values("item_id"))
        return {None: (queue.count(), decoys.count())}
    reviewers = qa_task.assignments.filter(kind="work", removed=False, assignee__isnull=False)
    rows = TaskItem.objects.filter(task=qa_task, copy=0, assignment__in=reviewers)
    totals = dict(rows.values("assignment_id").annotate(n=Count("pk")).values_list("assignment_id", "n"))
    have = dict(
        rows.filter(item_id__in=ReviewHoneypot.objects.filter(qa_task=qa_task).values("item_id"))
        .values("assignment_id")
        .annotate(n=Count("pk"))
        .values_list("assignment_id", "n")
    )
    return {pk: (totals.get(pk, 0), have.get(pk, 0)) for pk in reviewers.values_list("pk", flat=True)}


@dataclass(frozen=True)
class QueueShare:
    name: str  # the reviewer's email, or "Pulling queue"
    items: int
    decoys: int

    @property
    def percent(self) -> float:
        return 100.0 * self.decoys / self.items if self.items else 0.0


def queue_shares(qa_task: AnnotationTask) -> list[QueueShare]:
    """Each reviewer's queue (or the pulling queue): items and known-wrong answers among them."""
    if qa_task.type != TaskType.QA:
        return []
    queues = _queues(qa_task)
    emails = dict(
        qa_task.assignments.filter(pk__in=[q for q in queues if q is not None]).values_list("pk", "assignee__email")
    )
    rows = [
        QueueShare(name=emails.get(queue, "") if queue is not None else "Pulling queue", items=total, decoys=have)
        for queue, (total, have) in queues.items()
    ]
    return sorted(rows, key=lambda row: row.name)


def decoy_of(task_item: TaskItem) -> ReviewHoneypot | None:
    if task_item.task.type != TaskType.QA:
        return None
    return ReviewHoneypot.objects.filter(qa_task_id=task_item.task_id, item_id=task_item.item_id).first()


def _decide(decoy: ReviewHoneypot, *, outcome: str, by: User) -> None:
    if decoy.outcome:
        return
    ReviewHoneypot.objects.filter(pk=decoy.pk).update(outcome=outcome, reviewer=by, decided_at=timezone.now())


def verdict_from_change(change: StatusChange) -> None:
    """A step of the status flow: a done status on a decoy is a miss."""
    if change.task.type != TaskType.QA or change.new is None or not change.is_done:
        return
    if known_absent(change.task, DECOY):
        return
    decoy = decoy_of(change.row)
    if decoy is not None:
        _decide(decoy, outcome=ReviewHoneypot.Outcome.MISSED, by=change.by)


def caught(*, qa_task_item: TaskItem, by: User) -> bool:
    """A reject of a decoy: a catch, and the decoy leaves the queue. False when it is no decoy."""
    decoy = decoy_of(qa_task_item)
    if decoy is None:
        return False
    _decide(decoy, outcome=ReviewHoneypot.Outcome.CAUGHT, by=by)
    task_remove_items(
        task=qa_task_item.task, selection=Selection(mode="list", item_ids=(qa_task_item.item_id,)), by=by
    )
    return True


@dataclass(frozen=True)
class Shown:
    """What the reviewer sees as the reviewed task's answer on a decoy."""

    labels: list[str]
    status: str
    by_email: str


def shown_answer(task_item: TaskItem) -> Shown | None:
    decoy = decoy_of(task_item)
    if decoy is None:
        return None
    shown_as = decoy.shown_as
    email = shown_as.email if shown_as is not None else ""
    return Shown(labels=list(decoy.shown_labels), status=decoy.shown_status, by_email=email)


class CatchRate(NamedTuple):
    caught: int
    decided: int
    last_decided_at: datetime.datetime | None


def catch_rates(qa_task_ids: list[int]) -> dict[int, CatchRate]:
    """{reviewer id: their known-wrong answers caught, decided, and when they last decided one} over
    these QA tasks."""
    rows = (
        ReviewHoneypot.objects.filter(qa_task_id__in=qa_task_ids, reviewer__isnull=False)
        .exclude(outcome="")
        .values("reviewer_id")
        .annotate(
            caught=Count("pk", filter=Q(outcome=ReviewHoneypot.Outcome.CAUGHT)),
            decided=Count("pk"),
            last=Max("decided_at"),
        )
        .values_list("reviewer_id", "caught", "decided", "last")
    )
    return {reviewer_id: CatchRate(caught, decided, last) for reviewer_id, caught, decided, last in rows}
