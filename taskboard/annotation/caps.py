"""Per-person caps: the most items one person may hold in one task, as a count or a share of the
task's items (rounded up). A person's held items are their assignment's `item_count` (done or not).

Pulls stop at the cap (both claim paths take only what fits); moves of undone work (reassign,
redistribute, hand-offs) refuse to take anyone past theirs, naming them.
"""

import math
from collections.abc import Mapping

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Sum

from taskboard.accounts.models import User
from taskboard.annotation.models import HELD_ITEMS, AnnotationTask, Assignment, AssignmentKind, Cap
from taskboard.projects.access import role_of

# The share cap's item count, in SQL, for the claim statement (docs/tasks.md, Caps).
TASK_ITEMS_SQL = (
    f"(SELECT COALESCE(SUM(x.item_count - x.claimed_count), 0) FROM {Assignment._meta.db_table} x "
    f"WHERE x.task_id = %(task)s AND x.kind <> 'consensus')"
)
CAP_SQL = (
    f"(SELECT COALESCE(c.max_items, CEIL(c.max_share * {TASK_ITEMS_SQL} / 100.0)::bigint) "
    f"FROM {Cap._meta.db_table} c WHERE c.task_id = %(task)s AND c.user_id = %(user)s)"
)


def task_items(task: AnnotationTask) -> int:
    work = Assignment.objects.filter(task=task).exclude(kind=AssignmentKind.CONSENSUS)
    return work.aggregate(n=Sum(HELD_ITEMS))["n"] or 0


def cap_items(cap: Cap, total: int) -> int:
    if cap.max_items is not None:
        return cap.max_items
    assert cap.max_share is not None  # cap_count_or_share
    return math.ceil(cap.max_share * total / 100)


def room_left(*, task: AnnotationTask, user_id: int, held: int) -> int | None:
    """How many more items the person may take in the task; None when they have no cap."""
    cap = Cap.objects.filter(task=task, user_id=user_id).first()
    if cap is None:
        return None
    return max(0, cap_items(cap, task_items(task)) - held)


def require_room(*, task: AnnotationTask, added: Mapping[int, int], field: str = "assignees") -> None:
    """Refuse a move that takes anyone past their cap: `added` is items per target assignment id."""
    caps = {c.user_id: c for c in Cap.objects.filter(task=task)}
    if not caps:
        return
    total = task_items(task)
    for a in Assignment.objects.filter(pk__in=list(added)).select_related("assignee"):
        cap = caps.get(a.assignee_id) if a.assignee_id else None
        if cap is None or not added[a.pk]:
            continue
        most = cap_items(cap, total)
        if a.item_count > most:
            assert a.assignee is not None
            raise ValidationError(
                {field: f"{a.assignee.email} would hold {a.item_count} items here; their cap is {most}."}
            )


def cap_check(*, task: AnnotationTask, user: User, max_items: object, max_share: object) -> None:
    """Every rule of a cap (the pages, the API and the admin's form ask it): ValidationError by field."""
    if role_of(user, task.project_id) is None:
        raise ValidationError({"user": f"{user.email} is not a member of this project."})
    if max_items is not None and max_share is not None:
        raise ValidationError({"max_items": "Give a count or a share, not both."})
    if max_items is not None and (isinstance(max_items, bool) or not isinstance(max_items, int) or max_items < 0):
        raise ValidationError({"max_items": "A cap is a whole number of items, 0 or more."})
    if max_share is not None and (
        isinstance(max_share, bool) or not isinstance(max_share, int) or not 1 <= max_share <= 100
    ):
        raise ValidationError({"max_share": "A share is a whole percent from 1 to 100."})


@transaction.atomic
def cap_set(
    *, task: AnnotationTask, user: User, by: User, max_items: int | None = None, max_share: int | None = None
) -> Cap | None:
    """Cap `user` in `task` at a count or a share (percent) of its items; neither lifts the cap."""
    cap_check(task=task, user=user, max_items=max_items, max_share=max_share)
    if max_items is None and max_share is None:
        Cap.objects.filter(task=task, user=user).delete()
        return None
    cap, _ = Cap.objects.update_or_create(
        task=task, user=user, defaults={"max_items": max_items, "max_share": max_share, "by": by}
    )
    return cap
