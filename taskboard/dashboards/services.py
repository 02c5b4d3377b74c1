"""Writes to the dashboards' rows. Called from the status-change receiver, so every write here
runs inside the core service's transaction and rolls back with it."""

import datetime
from collections.abc import Iterable

from django.utils import timezone

from taskboard.annotation.models import ChangeKind, HoldingChange, TaskItem, TaskStatus, TaskType
from taskboard.dashboards.models import ConsensusTally, DailyThroughput, ReviewTally
from taskboard.sql import upsert_add

APPROVED = "approved"
DISCARD = "discard"


def _done_keys(task_id: int, keys: Iterable[str | None]) -> set[str]:
    named = [k for k in keys if k]
    if not named:
        return set()
    return set(
        TaskStatus.objects.filter(task_id=task_id, key__in=named, is_done=True)
        .order_by()
        .values_list("key", flat=True)
    )


def throughput_add(*, task_id: int, assignment_id: int, day: datetime.date, done: int) -> None:
    if done:
        upsert_add(
            DailyThroughput._meta.db_table,
            {"task_id": task_id, "assignment_id": assignment_id, "day": day},
            {"done": done},
        )


def active_time_add(*, task_id: int, assignment_id: int, day: datetime.date, seconds: float) -> None:
    if seconds > 0:
        upsert_add(
            DailyThroughput._meta.db_table,
            {"task_id": task_id, "assignment_id": assignment_id, "day": day},
            {"done": 0, "active_seconds": float(seconds)},
        )


def throughput_record(
    *, task_item: TaskItem, old_status: str | None, new_status: str | None, done_keys: Iterable[str] | None = None
) -> None:
    """+1 on today's row when the item became done, -1 when it stopped being done. `done_keys`: the
    task's done statuses when the caller has read them."""
    if old_status == new_status:
        return
    keys = set(done_keys) if done_keys is not None else _done_keys(task_item.task_id, [old_status, new_status])
    delta = int(new_status in keys) - int(old_status in keys)
    throughput_add(
        task_id=task_item.task_id, assignment_id=task_item.assignment_id, day=timezone.localdate(), done=delta
    )


def review_tally_record(*, task_item: TaskItem, old_status: str | None, new_status: str | None) -> None:
    """Credit a QA verdict to whoever did the item in the parent task (one indexed lookup)."""
    if old_status == new_status:
        return
    # Usually loaded already (the work app's receiver reads it first), so this costs no query.
    task = task_item.task
    if task.type != TaskType.QA or task.parent_id is None:
        return
    delta = {APPROVED: 0, DISCARD: 0}
    for status, sign in ((old_status, -1), (new_status, +1)):
        if status in delta:
            delta[status] += sign
    if not any(delta.values()):
        return
    parent_item = (
        TaskItem.objects.filter(task_id=task.parent_id, item_id=task_item.item_id, status_by__isnull=False)
        .order_by("copy")
        .values("status_by_id")
        .first()
    )
    if parent_item is None:
        return
    # The rework flag is reset when the annotator finishes; the record of the send-back stays.
    reworked = HoldingChange.objects.filter(
        item_id=task_item.item_id, task_id=task.parent_id, kind=ChangeKind.REWORK
    ).exists()
    first_pass = 0 if reworked else delta[APPROVED]
    upsert_add(
        ReviewTally._meta.db_table,
        {"task_id": task.parent_id, "annotator_id": parent_item["status_by_id"]},
        {"approved": delta[APPROVED], "first_pass": first_pass, "discarded": delta[DISCARD], "sent_back": 0},
    )


def review_sent_back(*, task_id: int, annotator_ids: Iterable[int | None]) -> None:
    """QA sent copies back: one more per annotator and copy, on the annotation task's tally."""
    per_annotator: dict[int, int] = {}
    for annotator_id in annotator_ids:
        if annotator_id is not None:
            per_annotator[annotator_id] = per_annotator.get(annotator_id, 0) + 1
    for annotator_id, n in sorted(per_annotator.items()):
        upsert_add(
            ReviewTally._meta.db_table,
            {"task_id": task_id, "annotator_id": annotator_id},
            {"approved": 0, "first_pass": 0, "discarded": 0, "sent_back": n},
        )


LOW_AGREEMENT = 0.5


def consensus_tally_add(*, task_id: int, old: float | None, new: float | None) -> None:
    """An item's agreement appeared (old None), changed, or went away (new None)."""
    if old == new:
        return

    def low(value: float | None) -> int:
        return int(value is not None and value < LOW_AGREEMENT)

    upsert_add(
        ConsensusTally._meta.db_table,
        {"task_id": task_id},
        {
            "items": int(new is not None) - int(old is not None),
            "agreement_sum": (new or 0.0) - (old or 0.0),
            "low": low(new) - low(old),
        },
    )
