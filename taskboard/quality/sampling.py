"""Review sampling that adapts per person: a QA task with sampling on reviews a share of each
annotator's finished items instead of all of them.

The share (`rate_for`): 100% while a person is new (fewer than `sample_new` passed reviews in a row)
or below the QA task's minimum score (passed ÷ reviewed); after that it halves with each further
`sample_step` passes in a row, down to the floor; a failed review (a reject) puts it back to 100% at
once. Whether an item is reviewed is decided when QA would take it in (`work/qa.intake` asks
`take_for_review`): a stable draw from the QA task and item, so the same item always gets the same
answer, below the person's share.
"""

from __future__ import annotations

import hashlib

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F

from taskboard.accounts.models import User
from taskboard.annotation.models import AnnotationTask, TaskItem, TaskType
from taskboard.annotation.statuses import StatusChange
from taskboard.quality.models import SamplingState, TaskQuality
from taskboard.quality.reads import RULE, known_absent
from taskboard.quality.services import require_manager


def rate_for(rule: TaskQuality, *, streak: int, reviewed: int, passed: int) -> int:
    """The share (percent) of a person's items to review, from their record."""
    if streak < rule.sample_new:
        return 100
    if reviewed and 100 * passed < rule.sample_min_score * reviewed:
        return 100
    halvings = 1 + (streak - rule.sample_new) // max(rule.sample_step, 1)
    return max(rule.sample_floor, 100 >> min(halvings, 7))


def draw(qa_task_id: int, item_id: int) -> float:
    """A stable number in [0, 1) for this QA task and item."""
    digest = hashlib.sha256(f"{qa_task_id}:{item_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def _rule(qa_task: AnnotationTask) -> TaskQuality | None:
    return TaskQuality.objects.filter(task=qa_task, sampling=True).first()


def _state(qa_task: AnnotationTask, annotator_id: int) -> SamplingState:
    state, _ = SamplingState.objects.select_for_update().get_or_create(qa_task=qa_task, annotator_id=annotator_id)
    return state


def take_for_review(*, qa_task: AnnotationTask, annotator_id: int | None, item_id: int) -> bool:
    """Whether QA takes in this finished item of `annotator_id` (always, without sampling)."""
    rule = _rule(qa_task)
    if rule is None or annotator_id is None:
        return True
    state = _state(qa_task, annotator_id)
    take = draw(qa_task.pk, item_id) * 100 < state.rate
    SamplingState.objects.filter(pk=state.pk).update(finished=F("finished") + 1, sampled=F("sampled") + int(take))
    return take


def review_recorded(*, qa_task: AnnotationTask, annotator_id: int | None, passed: bool) -> int | None:
    """A sampled review ended: passed (a done QA status) or failed (a reject). Returns the new share."""
    rule = _rule(qa_task)
    if rule is None or annotator_id is None:
        return None
    state = _state(qa_task, annotator_id)
    state.reviewed += 1
    state.passed += int(passed)
    state.streak = state.streak + 1 if passed else 0
    state.rate = rate_for(rule, streak=state.streak, reviewed=state.reviewed, passed=state.passed)
    state.save(update_fields=["reviewed", "passed", "streak", "rate", "updated_at"])
    return state.rate


def sampling_table(qa_task: AnnotationTask) -> list[SamplingState]:
    return list(SamplingState.objects.filter(qa_task=qa_task).select_related("annotator").order_by("annotator__email"))


def review_from_change(change: StatusChange) -> int | None:
    """A step of the status flow: a reviewer gave a done status to an item of a sampling QA task, a
    passed review for the annotator who did it."""
    task = change.task
    if task.type != TaskType.QA or task.parent_id is None or change.old is not None or not change.is_done:
        return None
    if known_absent(task, RULE) or _rule(task) is None:
        return None
    annotator_id = (
        TaskItem.objects.filter(task_id=task.parent_id, item_id=change.row.item_id, copy=0)
        .values_list("status_by_id", flat=True)
        .first()
    )
    return review_recorded(qa_task=task, annotator_id=annotator_id, passed=True)


@transaction.atomic
def sampling_update(
    *, qa_task: AnnotationTask, by: User, on: bool, floor: int, new: int, step: int, min_score: int
) -> TaskQuality:
    """Turn a QA task's sampling on or off and set its rule. People's shares follow the new rule."""
    require_manager(qa_task.project, by)
    errors: dict[str, str] = {}
    if qa_task.type != TaskType.QA:
        errors["sampling"] = "Review sampling is for QA tasks."
    if not 1 <= floor <= 100:
        errors["sample_floor"] = "The floor is a share from 1 to 100 percent."
    if not 0 <= new <= 10_000:
        errors["sample_new"] = "From 0 to 10,000 passed reviews."
    if not 1 <= step <= 10_000:
        errors["sample_step"] = "From 1 to 10,000 passed reviews."
    if not 0 <= min_score <= 100:
        errors["sample_min_score"] = "The minimum score is a percentage from 0 to 100."
    if errors:
        raise ValidationError(errors)
    rule, _ = TaskQuality.objects.update_or_create(
        task=qa_task,
        defaults={
            "sampling": on,
            "sample_floor": floor,
            "sample_new": new,
            "sample_step": step,
            "sample_min_score": min_score,
        },
    )
    states = list(SamplingState.objects.filter(qa_task=qa_task))
    for state in states:
        state.rate = rate_for(rule, streak=state.streak, reviewed=state.reviewed, passed=state.passed)
    SamplingState.objects.bulk_update(states, ["rate"], batch_size=1000)
    return rule
