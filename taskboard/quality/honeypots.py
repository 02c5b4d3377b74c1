"""Ground truth, honeypots, and each person's score against them.

A manager makes items ground truth (their accepted status and labels). A task mixes them in as
honeypots at its rate, where they look like any other item. Whenever a person sets a status on a
ground-truth item in an annotation task (a step of the status flow, `work/flow.py`), the answer is
checked: the status must match and, when the truth has labels, the person's labels in the task
must be the same set. A person's score is the share of right answers, per task and per project,
counted from the answers. A task's rule pauses a person whose score falls below its threshold
once they have answered enough (`annotation/people.py` pauses and tells them and the managers).
"""

from __future__ import annotations

import math
import random

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Count, Q

from taskboard.accounts.models import User
from taskboard.annotation.models import AnnotationTask, TaskItem, TaskType
from taskboard.annotation.moves import task_add_items
from taskboard.annotation.people import pause_person, stop_of
from taskboard.annotation.selection import Selection
from taskboard.annotation.statuses import StatusChange
from taskboard.datasets.models import Annotation
from taskboard.quality.models import GroundTruth, GroundTruthAnswer, Honeypot, TaskQuality
from taskboard.quality.reads import GROUND_TRUTH, known_absent
from taskboard.quality.services import require_manager


def labels_given(*, task_id: int, item_id: int, user_id: int) -> list[str]:
    names = Annotation.objects.filter(task_id=task_id, item_id=item_id, created_by_id=user_id).values_list(
        "label_name", flat=True
    )
    return sorted(set(names))


def is_right(truth: GroundTruth, *, status: str, labels: list[str]) -> bool:
    return status == truth.status and (not truth.labels or sorted(truth.labels) == labels)


@transaction.atomic
def ground_truth_from_task(*, task: AnnotationTask, status: str, by: User) -> int:
    """Make the task's items that have `status` ground truth. For a QA task (say, its approved
    items) the answer is the item's status and labels in the annotation task it reviews; otherwise
    the status and labels in `task` itself. Replaces earlier truth for the same items."""
    require_manager(task.project, by)
    if not task.statuses.filter(key=status).exists():
        raise ValidationError({"status": f"{task.name} has no status {status!r}."})
    item_ids = list(TaskItem.objects.filter(task=task, status=status, copy=0).values_list("item_id", flat=True))
    if not item_ids:
        raise ValidationError({"status": f"No item has the status {status!r} in {task.name}."})
    source = task
    answers: dict[int, str] = {i: status for i in item_ids}
    if task.type == TaskType.QA and task.parent is not None:
        source = task.parent
        answers = {
            item_id: parent_status
            for item_id, parent_status in TaskItem.objects.filter(
                task=source, item_id__in=item_ids, copy=0, status__isnull=False
            ).values_list("item_id", "status")
            if parent_status is not None
        }
    labels: dict[int, set[str]] = {}
    for item_id, name in Annotation.objects.filter(task=source, item_id__in=list(answers)).values_list(
        "item_id", "label_name"
    ):
        labels.setdefault(item_id, set()).add(name)
    rows = [
        GroundTruth(project=task.project, item_id=i, status=s, labels=sorted(labels.get(i, ())), by=by)
        for i, s in answers.items()
    ]
    GroundTruth.objects.bulk_create(
        rows, update_conflicts=True, unique_fields=["project", "item"], update_fields=["status", "labels", "by"]
    )
    return len(rows)


@transaction.atomic
def honeypots_mix(*, task: AnnotationTask, by: User, seed: int | None = None) -> int:
    """Top the task's honeypots up to its rate: ground-truth items of its dataset that are not in the
    task yet join it like any other item (to its people by their shares, or into its queue) at
    random places in its order. Returns how many joined."""
    require_manager(task.project, by)
    if task.type != TaskType.ANNOTATION:
        raise ValidationError({"honeypot_rate": "Honeypots go into annotation tasks."})
    rate = TaskQuality.objects.filter(task=task).values_list("honeypot_rate", flat=True).first() or 0
    if rate <= 0:
        raise ValidationError({"honeypot_rate": "Set a honeypot rate first."})
    mixed = Honeypot.objects.filter(task=task).count()
    regular = TaskItem.objects.filter(task=task, copy=0).count() - mixed
    wanted = still_wanted(regular=regular, have=mixed, rate=rate)
    if wanted <= 0:
        return 0
    pool = list(
        GroundTruth.objects.filter(project=task.project, item__dataset_id=task.dataset_id)
        .exclude(item_id__in=TaskItem.objects.filter(task=task).values("item_id"))
        .order_by("item_id")
        .values_list("item_id", flat=True)
    )
    if not pool:
        raise ValidationError({"honeypot_rate": "No ground-truth item of this dataset is left to mix in."})
    rng = random.Random(seed)
    chosen = sorted(rng.sample(pool, min(wanted, len(pool))))
    task_add_items(task=task, selection=Selection(mode="list", item_ids=tuple(chosen)), by=by)
    Honeypot.objects.bulk_create(Honeypot(task=task, item_id=i) for i in chosen)
    scatter(task=task, item_ids=chosen, rng=rng)
    return len(chosen)


def still_wanted(*, regular: int, have: int, rate: int) -> int:
    """How many more make `rate` percent of the items honeypots: h / (regular + h) = rate / 100."""
    return max(0, math.ceil(regular * rate / (100 - rate)) - have)


def scatter(*, task: AnnotationTask, item_ids: list[int], rng: random.Random) -> None:
    """Put items that just joined the task at random places in its order, so nothing tells them apart."""
    ranks = list(TaskItem.objects.filter(task=task).exclude(item_id__in=item_ids).values_list("rank", flat=True))
    low, high = (min(ranks), max(ranks)) if ranks else (0, 0)
    rows = list(TaskItem.objects.filter(task=task, item_id__in=item_ids))
    for row in rows:
        row.rank = rng.randint(low, high)
    TaskItem.objects.bulk_update(rows, ["rank"], batch_size=1000)


def answer_check(change: StatusChange) -> GroundTruthAnswer | None:
    """A step of the status flow: a status on a ground-truth item of an annotation task is an answer.
    A cleared status withdraws it. Then the task's pause rule looks at the person's score."""
    task, row = change.task, change.row
    if task.type != TaskType.ANNOTATION or known_absent(task, GROUND_TRUTH):
        return None
    truth = GroundTruth.objects.filter(project_id=task.project_id, item_id=row.item_id).first()
    if truth is None:
        return None
    user = change.by
    if change.new is None:
        GroundTruthAnswer.objects.filter(task=task, item_id=row.item_id, copy=row.copy, user=user).delete()
        return None
    labels = labels_given(task_id=task.pk, item_id=row.item_id, user_id=user.pk)
    answer, _ = GroundTruthAnswer.objects.update_or_create(
        task=task,
        item_id=row.item_id,
        copy=row.copy,
        user=user,
        defaults={
            "project_id": task.project_id,
            "status": change.new,
            "labels": labels,
            "correct": is_right(truth, status=change.new, labels=labels),
        },
    )
    pause_rule(task=task, user=user)
    return answer


def score_of(*, task: AnnotationTask, user: User) -> tuple[int, int]:
    """(answered, right) for one person in one task."""
    counts = GroundTruthAnswer.objects.filter(task=task, user=user).aggregate(
        answered=Count("pk"), right=Count("pk", filter=Q(correct=True))
    )
    return counts["answered"], counts["right"]


def pause_rule(*, task: AnnotationTask, user: User) -> bool:
    """Pause `user` in `task` when the task's rule says so; True when this paused them."""
    rule = TaskQuality.objects.filter(task=task).first()
    if rule is None or rule.pause_below is None:
        return False
    answered, right = score_of(task=task, user=user)
    if answered < rule.pause_after or 100 * right >= rule.pause_below * answered:
        return False
    if stop_of(user=user, task=task) is not None:
        return False
    pause_person(
        project=task.project,
        user=user,
        by=None,
        task=task,
        stops_work=True,
        reason=(
            f"Honeypot score {100 * right / answered:.0f}% ({right} of {answered}) is below "
            f"{rule.pause_below}%. A manager looks at the work and resumes you."
        ),
    )
    return True
