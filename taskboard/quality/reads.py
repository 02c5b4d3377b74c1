"""What the quality gates need to know about a status change, read with the task's lock (or with the
work page's item) so a change that touches no gate spends no query finding that out."""

from typing import Any

from django.db.models import Exists, OuterRef

from taskboard.annotation.models import AnnotationTask
from taskboard.quality.models import GroundTruth, ReviewHoneypot, TaskQuality

GROUND_TRUTH = "quality_ground_truth"  # the item is ground truth in the task's project
RULE = "quality_rule"  # the task has quality settings (qualification, sampling, pause rule)
DECOY = "quality_decoy"  # the item is a review decoy in the (QA) task


def with_task_lock(item_id: int) -> dict[str, Exists]:
    """Expressions over the task's row (`lock_task(task, **with_task_lock(item.pk))`)."""
    return {
        GROUND_TRUTH: Exists(GroundTruth.objects.filter(project_id=OuterRef("project_id"), item_id=item_id)),
        RULE: Exists(TaskQuality.objects.filter(task_id=OuterRef("pk"))),
        DECOY: Exists(ReviewHoneypot.objects.filter(qa_task_id=OuterRef("pk"), item_id=item_id)),
    }


def rule_of_outer_task(task_ref: str) -> Exists:
    """RULE for a query over another table: `task_ref` names the task's id there."""
    return Exists(TaskQuality.objects.filter(task_id=OuterRef(task_ref)))


def known_absent(task: AnnotationTask, name: str) -> bool:
    """True when the read said there is nothing of `name` (not read: False, so the step looks itself)."""
    known: Any = task.__dict__.get(name)
    return known is False
