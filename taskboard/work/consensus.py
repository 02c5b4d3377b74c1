"""Consensus agreement: once every copy of a consensus item has a status, the share of its
annotators who chose the most common label set."""

from collections import Counter

from django.utils import timezone

from taskboard.annotation.models import AnnotationTask, TaskItem, TaskType
from taskboard.annotation.statuses import StatusChange
from taskboard.datasets.models import Annotation
from taskboard.work import signals
from taskboard.work.models import ConsensusResult


def consensus_score(label_sets: list[frozenset[str]]) -> tuple[float, list[str]]:
    """Share of annotators who chose the most common label set, and that set."""
    if not label_sets:
        return 0.0, []
    majority, votes = Counter(label_sets).most_common(1)[0]
    return votes / len(label_sets), sorted(majority)


def score(change: StatusChange) -> ConsensusResult | None:
    """A step of the status flow: a consensus copy's status changed, so its item's agreement may
    have appeared, changed or gone."""
    if change.task.type != TaskType.ANNOTATION or not change.task.is_consensus or change.row.copy == 0:
        return None
    return consensus_update(task=change.task, item_id=change.row.item_id)


def consensus_update(*, task: AnnotationTask, item_id: int) -> ConsensusResult | None:
    """Store the item's agreement once every copy has a status; forget it when one is cleared."""
    copies = list(
        TaskItem.objects.filter(task=task, item_id=item_id, copy__gt=0).values_list(
            "status", "assignment__assignee_id"
        )
    )
    scored = ConsensusResult.objects.filter(task=task, item_id=item_id)
    old = scored.values_list("agreement", flat=True).first()
    if len(copies) < 2 or any(status is None for status, _ in copies):
        if old is not None:
            scored.delete()
            signals.consensus_scored.send(sender=ConsensusResult, task=task, item_id=item_id, old=old, new=None)
        return None
    people = [assignee for _, assignee in copies]
    labels: dict[int, set[str]] = {person: set() for person in people}
    for person, name in Annotation.objects.filter(task=task, item_id=item_id, created_by_id__in=people).values_list(
        "created_by_id", "label_name"
    ):
        labels[person].add(name)
    agreement, majority = consensus_score([frozenset(labels[p]) for p in people])
    result, _ = ConsensusResult.objects.update_or_create(
        task=task,
        item_id=item_id,
        defaults={
            "agreement": agreement,
            "copies": len(copies),
            "majority": majority,
            "computed_at": timezone.now(),
        },
    )
    # The dashboards keep the task's sum and count of agreements from this, not by aggregating results.
    signals.consensus_scored.send(sender=ConsensusResult, task=task, item_id=item_id, old=old, new=agreement)
    return result
