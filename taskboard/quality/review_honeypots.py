"""Review honeypots: known-wrong answers seeded into a reviewer's queue, to measure each reviewer's
catch rate.

A manager seeds a QA task: ground-truth items of its dataset that are in neither the QA task nor the
task it reviews join the QA task's queue (its least loaded reviewer, or its pulling queue) at random
places, each shown with a wrong answer made from the truth (another status, or the labels with one
missing or one wrong added) as if one of the reviewed task's annotators gave it. A reject is a catch;
a done status is a miss. Either way the decoy then leaves the queue's figures: a caught one is
removed from the QA task, a missed one counts for nobody's annotator scorecard (it has no parent).
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from taskboard.accounts.models import User
from taskboard.annotation.models import AnnotationTask, TaskItem, TaskStatus, TaskType
from taskboard.annotation.moves import task_add_items, task_remove_items
from taskboard.annotation.selection import Selection
from taskboard.annotation.statuses import StatusChange
from taskboard.datasets.models import Label
from taskboard.quality.models import GroundTruth, ReviewHoneypot
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
def review_honeypots_seed(*, qa_task: AnnotationTask, count: int, by: User, seed: int | None = None) -> int:
    """Seed up to `count` decoys into the QA task. Returns how many joined."""
    require_manager(qa_task.project, by)
    parent = qa_task.parent
    if qa_task.type != TaskType.QA or parent is None:
        raise ValidationError({"count": "Review honeypots go into QA tasks."})
    if not 1 <= count <= 500:
        raise ValidationError({"count": "Seed 1 to 500 at a time."})
    pool = list(
        GroundTruth.objects.filter(project=qa_task.project, item__dataset_id=qa_task.dataset_id)
        .exclude(item_id__in=TaskItem.objects.filter(task=parent).values("item_id"))
        .exclude(item_id__in=TaskItem.objects.filter(task=qa_task).values("item_id"))
        .order_by("item_id")
    )
    if not pool:
        raise ValidationError({"count": "No ground-truth item is left that the reviewed task does not hold."})
    rng = random.Random(seed)
    chosen = rng.sample(pool, min(count, len(pool)))
    statuses = list(TaskStatus.objects.filter(task=parent, is_done=True).values_list("key", flat=True))
    labels = list(Label.objects.filter(recipe_id=parent.recipe_id).values_list("name", flat=True))
    annotators = list(
        parent.assignments.filter(kind="work", assignee__isnull=False).values_list("assignee_id", flat=True)
    )
    decoys = []
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
    ids = tuple(sorted(t.item_id for t in chosen))
    selection = Selection(mode="list", item_ids=ids)
    if qa_task.is_pulling:
        task_add_items(task=qa_task, selection=selection, by=by, to_queue=True)
    else:
        reviewers = list(qa_task.assignments.filter(kind="work", removed=False, assignee__isnull=False))
        if not reviewers:
            raise ValidationError({"count": "The QA task has no reviewer to seed."})
        task_add_items(
            task=qa_task, selection=selection, by=by, assignees=[r.assignee for r in reviewers if r.assignee]
        )
    ReviewHoneypot.objects.bulk_create(decoys)
    ranks = list(TaskItem.objects.filter(task=qa_task).exclude(item_id__in=ids).values_list("rank", flat=True))
    low, high = (min(ranks), max(ranks)) if ranks else (0, 0)
    rows = list(TaskItem.objects.filter(task=qa_task, item_id__in=ids))
    for row in rows:
        row.rank = rng.randint(low, high)
    TaskItem.objects.bulk_update(rows, ["rank"], batch_size=1000)
    return len(decoys)


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


def catch_rates(qa_task_ids: list[int]) -> dict[int, tuple[int, int]]:
    """{reviewer id: (caught, decided)} over these QA tasks."""
    rates: dict[int, tuple[int, int]] = {}
    for reviewer_id, outcome in (
        ReviewHoneypot.objects.filter(qa_task_id__in=qa_task_ids, reviewer__isnull=False)
        .exclude(outcome="")
        .values_list("reviewer_id", "outcome")
    ):
        if reviewer_id is None:
            continue
        got, seen = rates.get(reviewer_id, (0, 0))
        rates[reviewer_id] = (got + int(outcome == ReviewHoneypot.Outcome.CAUGHT), seen + 1)
    return rates
