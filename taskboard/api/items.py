"""Items as Dataloop lists them: each dataset item (the original), and for each consensus copy a hidden
clone item of its own, as Dataloop makes one per copy.

Clones are not rows of the dataset: a clone is the task row of its copy (`TaskItem`, copy > 0), with
its own id (`api_id("clone", row pk)`, stable while the copy exists), the original's file, name and
metadata, and refs of its own (the task and the copy's assignment, with the copy's status). The
dataset's counts, the pages and task creation see only the originals. An original's refs come from
its copy-0 rows; in a consensus task that is the task alone (its hidden pool of originals holds it).
"""

from dataclasses import dataclass
from typing import Any

from django.db.models import Exists, OuterRef, Q, QuerySet

from taskboard.accounts.models import User
from taskboard.annotation import dql
from taskboard.annotation.models import AssignmentKind, TaskItem
from taskboard.api.http import not_found
from taskboard.api.ids import api_id_kind, parse_id
from taskboard.datasets.models import Dataset, Item
from taskboard.projects.access import can_manage

ORIGINALS = dql.RowScope(rows=Q(copy=0), assignment_refs=~Q(assignment__kind=AssignmentKind.CONSENSUS))


def clone_rows(user: User, dataset: Dataset) -> QuerySet[TaskItem]:
    """The dataset's consensus copies this user may see as clones: all of them for its managers,
    their own for a worker."""
    rows = TaskItem.objects.filter(task__dataset=dataset, copy__gt=0)
    if not can_manage(user, dataset.project_id):
        rows = rows.filter(assignment__assignee=user, assignment__removed=False)
    return rows


def clone_get(user: User, value: str) -> TaskItem:
    pk = parse_id(value, "clone")
    row = (
        TaskItem.objects.filter(pk=pk, copy__gt=0)
        .select_related("item", "item__dataset", "task", "assignment")
        .first()
        if pk is not None
        else None
    )
    if row is None or not clone_rows(user, row.item.dataset).filter(pk=row.pk).exists():
        raise not_found("Item not found.")
    return row


def is_clone_id(value: object) -> bool:
    return isinstance(value, str) and api_id_kind(value) == "clone"


@dataclass(frozen=True)
class Listing:
    entries: list[Item | TaskItem]  # originals, then clones (rows with their item)
    total: int
    page: int
    size: int
    has_next: bool


def _keyset(body: dict[str, Any]) -> tuple[dict[str, Any], tuple[str, int] | None]:
    """dtlpy pages `.all()` by `{"id": {"$gt": last id}}` in the top-level $and; the last id may be a
    clone's. The clause is taken out and applied here, to originals and clones alike."""
    filt = body.get("filter")
    if not isinstance(filt, dict) or not isinstance(filt.get("$and"), list):
        return body, None
    after = None
    kept = []
    for clause in filt["$and"]:
        bound = clause.get("id") if isinstance(clause, dict) and set(clause) == {"id"} else None
        if isinstance(bound, dict) and set(bound) == {"$gt"} and isinstance(bound["$gt"], str):
            kind = api_id_kind(bound["$gt"])
            pk = parse_id(bound["$gt"], kind) if kind in ("item", "clone") else None
            if kind is not None and pk is not None:
                after = (kind, pk)
                continue
        kept.append(clause)
    if after is None:
        return body, None
    return {**body, "filter": {**filt, "$and": kept}}, after


def item_listing(user: User, dataset: Dataset, body: dict[str, Any]) -> Listing:
    """POST /datasets/{id}/query: the originals matching the filter, then the clones matching it
    (read as hidden items whose refs are their own copy's), paged over both."""
    body, after = _keyset(body)
    order_by, page, size, _after = dql.dql_sort_and_page(body)
    filt = body.get("filter") or {}
    originals = (
        Item.objects.visible_to(user)
        .filter(dataset=dataset)
        .filter(dql.dql_to_q(filt, dataset=dataset, scope=ORIGINALS))
    )
    # A clone's refs are its own row: the walk's ref subqueries look two levels out, to the clone.
    as_clone = dql.RowScope(rows=Q(pk=OuterRef(OuterRef("pk"))), hidden=True)
    clone_q = dql.dql_to_q(filt, dataset=dataset, scope=as_clone)
    clones = clone_rows(user, dataset).filter(Exists(Item.objects.filter(pk=OuterRef("item_id")).filter(clone_q)))
    if after is not None:
        kind, pk = after
        originals = originals.filter(pk__gt=pk) if kind == "item" else originals.none()
        if kind == "clone":
            clones = clones.filter(pk__gt=pk)
    n_originals = originals.count()
    n_clones = clones.count()
    start, stop = page * size, (page + 1) * size + 1
    entries: list[Item | TaskItem] = list(originals.order_by(*order_by)[start:stop]) if start < n_originals else []
    if len(entries) < stop - start and n_clones:
        skip = max(0, start - n_originals)
        wanted = stop - start - len(entries)
        entries += list(clones.select_related("item", "task", "assignment").order_by("pk")[skip : skip + wanted])
    has_next = len(entries) > size
    return Listing(entries=entries[:size], total=n_originals + n_clones, page=page, size=size, has_next=has_next)
