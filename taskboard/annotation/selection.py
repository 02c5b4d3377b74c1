"""Which items of a dataset a task (or an action on a task) works on.

A `Selection` is what the wizard, the task page's forms and the API hand to the services;
`select_items` turns it into a queryset through the DQL allow-list, never raw user input.
"""

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from django.core.exceptions import ValidationError
from django.db.models import Exists, OuterRef, Q, QuerySet

from taskboard.annotation.dql import DQLError, dql_to_q
from taskboard.annotation.dql_values import in_values
from taskboard.annotation.models import AnnotationTask, Pick, PickedItem, TaskItem
from taskboard.datasets.folders import folder_q
from taskboard.datasets.ids import parse_item_id
from taskboard.datasets.models import Dataset, Item

Mode = Literal["folder", "annotated", "task_status", "unassigned", "list", "all", "filter", "picked"]


@dataclass(frozen=True)
class Selection:
    mode: Mode
    # folder
    folder: str | None = None
    include_subfolders: bool = True
    # annotated: True / False
    annotated: bool | None = None
    # task_status: items of `task_id` with `task_status` ("any" = any status, "none" = no status)
    task_id: int | None = None
    task_status: str | None = None
    # list: ids and/or filenames of this dataset
    item_ids: tuple[int, ...] = ()
    filenames: tuple[str, ...] = ()
    # filter: a Dataloop DQL filter (the "filter" part: {"$and": [...], "$or": [...]})
    dql: dict[str, Any] | None = field(default=None, hash=False)
    # picked: the items of a `Pick` (`picks.items_pick`), made by a query over many rows
    pick_id: int | None = None

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["item_ids"] = list(self.item_ids)
        data["filenames"] = list(self.filenames)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "Selection":
        data = dict(data)
        data["item_ids"] = tuple(data.get("item_ids") or ())
        data["filenames"] = tuple(data.get("filenames") or ())
        return cls(**data)


def _selection_error(message: str) -> ValidationError:
    return ValidationError({"selection": message})


def _task_status_q(*, dataset: Dataset, selection: Selection) -> Q:
    if selection.task_id is None:
        raise _selection_error("Choose a task.")
    task = AnnotationTask.objects.filter(pk=selection.task_id, dataset=dataset).first()
    if task is None:
        raise _selection_error("That task is not in this dataset.")
    status = selection.task_status or "any"
    rows = TaskItem.objects.filter(task=task, item=OuterRef("pk"))
    if status == "any":
        return Q(Exists(rows.filter(status__isnull=False)))
    if status == "none":
        return Q(Exists(rows)) & ~Q(Exists(rows.filter(status__isnull=False)))
    if len(status) > 50:
        raise _selection_error("Unknown status.")
    return Q(Exists(rows.filter(status=status)))


def _list_q(*, dataset: Dataset, selection: Selection) -> Q:
    if not selection.item_ids and not selection.filenames:
        raise _selection_error("List at least one item id or filename.")
    try:
        ids = {parse_item_id(i) for i in selection.item_ids}
    except ValueError as exc:
        raise _selection_error(str(exc)) from exc
    filenames = {str(f).strip() for f in selection.filenames if str(f).strip()}
    q = Q(pk__in=[])
    found = 0
    if ids:
        q |= in_values("pk", sorted(ids))
        found += Item.objects.filter(dataset=dataset).filter(in_values("pk", sorted(ids))).count()
    if filenames:
        q |= in_values("filename", sorted(filenames))
        found += Item.objects.filter(dataset=dataset).filter(in_values("filename", sorted(filenames))).count()
    missing = len(ids) + len(filenames) - found
    if missing:
        raise _selection_error(
            f"{missing} of the {len(ids) + len(filenames)} listed items were not found in this dataset."
        )
    return q


def _picked_q(*, dataset: Dataset, selection: Selection) -> Q:
    pick_id = selection.pick_id
    if not isinstance(pick_id, int) or not Pick.objects.filter(pk=pick_id, dataset=dataset).exists():
        raise _selection_error("The picked items are gone (a pick is kept for a day): pick them again.")
    return Q(Exists(PickedItem.objects.filter(pick_id=pick_id, item_id=OuterRef("pk"))))


def select_items(*, dataset: Dataset, selection: Selection) -> QuerySet[Item]:
    """The dataset's items a selection names, as an unordered queryset (callers order it).

    Raises ValidationError({"selection": …}) for a selection that cannot be answered:
    a task of another dataset, ids not in this dataset, a DQL filter the allow-list refuses.
    An empty result is not an error here; services decide whether "no items match" is.
    """
    mode = selection.mode
    if mode == "all":
        q = Q()
    elif mode == "folder":
        q = folder_q(selection.folder or "/", selection.include_subfolders)
    elif mode == "annotated":
        if not isinstance(selection.annotated, bool):
            raise _selection_error("Choose annotated or not annotated.")
        q = Q(annotated=selection.annotated)
    elif mode == "task_status":
        q = _task_status_q(dataset=dataset, selection=selection)
    elif mode == "unassigned":
        q = ~Q(Exists(TaskItem.objects.filter(item=OuterRef("pk"))))
    elif mode == "list":
        q = _list_q(dataset=dataset, selection=selection)
    elif mode == "picked":
        q = _picked_q(dataset=dataset, selection=selection)
    elif mode == "filter":
        if selection.dql is None:
            raise _selection_error("A filter is required.")
        try:
            q = dql_to_q(selection.dql, dataset=dataset)
        except DQLError as exc:
            raise _selection_error(str(exc)) from exc
    else:
        raise _selection_error(f"Unknown selection mode {str(mode)[:30]!r}.")
    return Item.objects.filter(dataset=dataset).filter(q).order_by()
