"""The item browser's filters (django-filter), and the same filters as a task `Selection`.

Each filter applies its DQL clause (`*_clause` below) through the DQL allow-list, and
`itemfilter_to_selection` ANDs the same clauses for the wizard: the list a manager browses and the
items a task made "from this selection" are the same query by construction.
"""

import datetime
import json
import re
from typing import Any

import django_filters
from django import forms
from django.db.models import QuerySet
from django.utils import timezone

from taskboard.accounts.models import User
from taskboard.annotation.dql import DQLError, dql_to_q
from taskboard.annotation.forms import AccessibleForm
from taskboard.annotation.models import AnnotationTask, TaskStatus
from taskboard.annotation.selection import Selection
from taskboard.datasets.folders import normalize_folder
from taskboard.datasets.ids import item_api_id, task_api_id
from taskboard.datasets.models import Item, Label
from taskboard.discussion.queries import items_with_open_threads
from taskboard.projects.models import Project

YES_NO = [("yes", "Annotated"), ("no", "Not annotated")]
_METADATA_PATH = re.compile(r"^[A-Za-z0-9_\-]+(\.[A-Za-z0-9_\-]+){0,9}$")
_GLOB = re.compile(r"^[^\x00-\x1f]{1,500}$")
# The status a task filter asks for: in the task whatever its status (the default), with some status,
# with none yet, or one status.
IN_TASK, ANY_STATUS, NO_STATUS = "", "any", "none"


class ItemFilterForm(AccessibleForm):
    """Checks the browser's filter input. The second half of a pair (subfolders, the status in the
    chosen task, a metadata value) is a plain field here; its filter reads it."""

    subfolders = forms.BooleanField(required=False, initial=True, label="Include subfolders")
    status = forms.ChoiceField(required=False, label="Status in that task")
    meta_value = forms.CharField(required=False, max_length=500, label="Value")

    field_order = [
        "folder",
        "subfolders",
        "annotated",
        "unassigned",
        "task",
        "status",
        "unresolved",
        "label",
        "name",
        "meta_key",
        "meta_value",
        "created_from",
        "created_to",
    ]

    def clean(self):
        super().clean()
        data = self.cleaned_data
        folder = (data.get("folder") or "").strip()
        if folder:
            try:
                data["folder"] = normalize_folder(folder if folder.startswith("/") else "/" + folder)
            except forms.ValidationError as exc:
                self.add_error("folder", exc.message_dict["selection"])
        name = (data.get("name") or "").strip()
        if name and not _GLOB.match(name):
            self.add_error("name", "Enter a file name or a glob such as *.png.")
        key = (data.get("meta_key") or "").strip()
        if key.startswith("metadata."):
            key = key[len("metadata.") :]
        if key:
            if not _METADATA_PATH.match(key) or "__" in key or key.split(".")[0] == "system":
                self.add_error("meta_key", "Use letters, digits, - and _, with dots between levels (user.batch).")
            data["meta_key"] = key
        elif data.get("meta_value"):
            self.add_error("meta_key", "Name the metadata field to compare.")
        if data.get("status") and not data.get("task"):
            self.add_error("task", "Choose the task whose status to filter by.")
        start, end = data.get("created_from"), data.get("created_to")
        if start and end and start > end:
            self.add_error("created_to", "The end date is before the start date.")
        return data


# ---------------------------------------------------------------- one DQL clause per filter


def folder_clause(folder: str, subfolders: bool) -> dict | None:
    if not folder or (folder == "/" and subfolders):
        return None
    if subfolders:
        return {"$or": [{"dir": folder}, {"dir": folder.rstrip("/") + "/**"}]}
    return {"dir": folder}


def annotated_clause(annotated: str) -> dict | None:
    return {"annotated": annotated == "yes"} if annotated in ("yes", "no") else None


def unassigned_clause(unassigned: bool) -> dict | None:
    return {"metadata.system.refs": []} if unassigned else None


def task_clause(task: AnnotationTask | None, status: str) -> dict | None:
    if task is None:
        return None
    match: dict[str, Any] = {"id": task_api_id(task.pk), "type": "task"}
    if status == ANY_STATUS:
        match["metadata"] = {"status": {"$exists": True}}
    elif status == NO_STATUS:
        match["metadata"] = {"status": {"$exists": False}}
    elif status:
        match["metadata"] = {"status": status}
    return {"metadata.system.refs": {"$match": match}}


def unresolved_clause(unresolved: bool, dataset_id: int | None, task: AnnotationTask | None) -> dict | None:
    """Items with a comment thread still open (in the chosen task, else in any): the ids they have now."""
    if not unresolved or dataset_id is None:
        return None
    task_id = task.discussion_task_id if task is not None else None
    ids = items_with_open_threads(dataset_id=dataset_id, task_id=task_id)
    return {"id": {"$in": [item_api_id(pk) for pk in ids]}}


def label_clause(label: str) -> dict | None:
    return {"label": label} if label else None


def name_clause(name: str) -> dict | None:
    name = (name or "").strip()
    return {"filename" if "/" in name else "name": name} if name else None


def metadata_clause(key: str, value: str) -> dict | None:
    if not key:
        return None
    path = f"metadata.{key}"
    if not value:
        return {path: {"$exists": True}}
    options = _metadata_value(value)
    return {path: options[0]} if len(options) == 1 else {path: {"$in": options}}


def created_from_clause(start: datetime.date | None) -> dict | None:
    return {"createdAt": {"$gte": _day_start(start)}} if start else None


def created_to_clause(end: datetime.date | None) -> dict | None:
    return {"createdAt": {"$lt": _day_start(end + datetime.timedelta(days=1))}} if end else None


class ItemFilter(django_filters.FilterSet):
    folder = django_filters.CharFilter(method="filter_folder", label="Folder", max_length=1000)
    annotated = django_filters.ChoiceFilter(
        method="filter_annotated", choices=YES_NO, empty_label="Annotated or not", label="Annotation"
    )
    unassigned = django_filters.BooleanFilter(
        method="filter_unassigned", label="In no task", widget=forms.CheckboxInput
    )
    task = django_filters.ModelChoiceFilter(
        method="filter_task", queryset=AnnotationTask.objects.none(), label="Task", empty_label="Any task"
    )
    unresolved = django_filters.BooleanFilter(
        method="filter_unresolved", label="Unresolved comments", widget=forms.CheckboxInput
    )
    label = django_filters.ChoiceFilter(method="filter_label", label="Has label", empty_label="Any label")
    name = django_filters.CharFilter(
        method="filter_name",
        label="Name",
        max_length=500,
        help_text="Glob: * any characters but /, ** any characters.",
    )
    meta_key = django_filters.CharFilter(method="filter_metadata", label="Metadata field", max_length=200)
    created_from = django_filters.DateFilter(
        method="filter_created_from", label="Created from", widget=forms.DateInput(attrs={"type": "date"})
    )
    created_to = django_filters.DateFilter(
        method="filter_created_to", label="Created to", widget=forms.DateInput(attrs={"type": "date"})
    )

    class Meta:
        model = Item
        fields: list[str] = []
        form = ItemFilterForm

    def __init__(self, data=None, *args, dataset, **kwargs):
        if data is not None:
            data = data.copy()
            # An unchecked box sends nothing; a form that was never submitted means "on".
            if "subfolders" not in data and "submitted" not in data:
                data["subfolders"] = "on"
        super().__init__(data, *args, queryset=Item.objects.filter(dataset=dataset), **kwargs)
        self.dataset = dataset
        self.filters["task"].queryset = AnnotationTask.objects.filter(dataset=dataset).order_by("name")
        labels = (
            Label.objects.filter(recipe__dataset=dataset).order_by("name").values_list("name", flat=True).distinct()
        )
        self.filters["label"].extra["choices"] = [(n, n) for n in labels]
        choices = [(IN_TASK, "In the task, any status"), (ANY_STATUS, "With a status"), (NO_STATUS, "No status yet")]
        seen = set()
        rows = TaskStatus.objects.filter(task__dataset=dataset).order_by("position", "key").values_list("key", "label")
        for key, label in rows:
            if key not in seen:
                seen.add(key)
                choices.append((key, label))
        self.form.fields["status"].choices = choices

    def filter_queryset(self, queryset):
        # Only the filters filter: the form's own fields (subfolders, status, a metadata value) are
        # read by the filter they complete.
        for name, item_filter in self.filters.items():
            queryset = item_filter.filter(queryset, self.form.cleaned_data.get(name))
        return queryset

    @property
    def selection(self) -> Selection:
        """The same filters as a Selection, for the wizard."""
        return itemfilter_to_selection(self.form.cleaned_data, dataset_id=self.dataset.pk)

    @property
    def dql(self) -> dict | None:
        """The same filters as the query language (None: nothing filtered)."""
        return itemfilter_to_dql(self.form.cleaned_data, dataset_id=self.dataset.pk)

    def _by(self, queryset: QuerySet[Item], clause: dict | None) -> QuerySet[Item]:
        return queryset if clause is None else queryset.filter(dql_to_q({"$and": [clause]}, dataset=self.dataset))

    def _data(self, name: str) -> Any:
        return self.form.cleaned_data.get(name)

    def filter_folder(self, queryset, name, value):
        return self._by(queryset, folder_clause(value, bool(self._data("subfolders"))))

    def filter_annotated(self, queryset, name, value):
        return self._by(queryset, annotated_clause(value))

    def filter_unassigned(self, queryset, name, value):
        return self._by(queryset, unassigned_clause(bool(value)))

    def filter_task(self, queryset, name, value):
        return self._by(queryset, task_clause(value, self._data("status") or IN_TASK))

    def filter_unresolved(self, queryset, name, value):
        return self._by(queryset, unresolved_clause(bool(value), self.dataset.pk, self._data("task")))

    def filter_label(self, queryset, name, value):
        return self._by(queryset, label_clause(value))

    def filter_name(self, queryset, name, value):
        return self._by(queryset, name_clause(value))

    def filter_metadata(self, queryset, name, value):
        return self._by(queryset, metadata_clause(value, self._data("meta_value") or ""))

    def filter_created_from(self, queryset, name, value):
        return self._by(queryset, created_from_clause(value))

    def filter_created_to(self, queryset, name, value):
        return self._by(queryset, created_to_clause(value))


def item_list(*, dataset, data) -> tuple[ItemFilter, QuerySet[Item] | None]:
    """The browser's selector: its filter (with the form's errors) and the items it lets through,
    None when the input is invalid (a glob the query language refuses included)."""
    item_filter = ItemFilter(data, dataset=dataset)
    if not item_filter.is_valid():
        return item_filter, None
    try:
        return item_filter, item_filter.qs.order_by()
    except DQLError as exc:
        item_filter.form.add_error(None, str(exc))
        return item_filter, None


def _metadata_value(text: str):
    """What a typed value may mean in JSON: 3 may be stored as 3 or "3", true as true or "true"."""
    values: list[str | int | float] = [text]
    try:
        parsed = json.loads(text)
    except ValueError:
        return values
    if isinstance(parsed, bool | int | float) and not isinstance(parsed, str):
        values.append(parsed)
    return values


def _day_start(day: datetime.date) -> str:
    return datetime.datetime.combine(day, datetime.time.min, tzinfo=datetime.UTC).isoformat()


def itemfilter_to_selection(data: dict, *, dataset_id: int | None = None) -> Selection:
    """The browser's cleaned filter data as a Selection: a plain mode when one filter is
    set (so the wizard shows it plainly), else a DQL filter that ANDs the filters' clauses."""
    folder = data.get("folder") or ""
    subfolders = bool(data.get("subfolders"))
    annotated = data.get("annotated") or ""
    task, status = data.get("task"), data.get("status") or IN_TASK
    simple: list[Selection] = []
    if folder_clause(folder, subfolders):
        simple.append(Selection(mode="folder", folder=folder, include_subfolders=subfolders))
    if annotated_clause(annotated):
        simple.append(Selection(mode="annotated", annotated=annotated == "yes"))
    if data.get("unassigned"):
        simple.append(Selection(mode="unassigned"))
    if task is not None and status != IN_TASK:
        simple.append(Selection(mode="task_status", task_id=task.pk, task_status=status))
    clauses = _clauses(data, dataset_id=dataset_id)
    if not clauses:
        return Selection(mode="all")
    if len(clauses) == 1 and len(simple) == 1:
        return simple[0]
    return Selection(mode="filter", dql={"$and": clauses})


def _clauses(data: dict, *, dataset_id: int | None) -> list[dict]:
    folder, subfolders = data.get("folder") or "", bool(data.get("subfolders"))
    task, status = data.get("task"), data.get("status") or IN_TASK
    return [
        clause
        for clause in (
            folder_clause(folder, subfolders),
            annotated_clause(data.get("annotated") or ""),
            unassigned_clause(bool(data.get("unassigned"))),
            task_clause(task, status),
            unresolved_clause(bool(data.get("unresolved")), dataset_id, task),
            label_clause(data.get("label") or ""),
            name_clause(data.get("name") or ""),
            metadata_clause(data.get("meta_key") or "", data.get("meta_value") or ""),
            created_from_clause(data.get("created_from")),
            created_to_clause(data.get("created_to")),
        )
        if clause is not None
    ]


def itemfilter_to_dql(data: dict, *, dataset_id: int | None = None) -> dict | None:
    """The browser's cleaned filter data as the query language, whatever filters are set (one folder
    too): what a task's bulk priority and bulk status pages take. None when nothing is filtered."""
    clauses = _clauses(data, dataset_id=dataset_id)
    return {"$and": clauses} if clauses else None


def selection_query_params(selection: Selection) -> dict[str, str]:
    """The wizard's query parameters for a selection (`/tasks/new/?dataset=…&…`)."""
    if selection.mode == "list":
        return {"mode": "list", "item_ids": ",".join(str(i) for i in selection.item_ids)}
    if selection.mode == "folder":
        return {
            "mode": "folder",
            "folder": selection.folder or "/",
            "subfolders": "1" if selection.include_subfolders else "0",
        }
    if selection.mode in ("all", "unassigned"):
        return {"mode": selection.mode}
    if selection.mode == "annotated":
        return {"mode": "filter", "dql": json.dumps({"$and": [{"annotated": bool(selection.annotated)}]})}
    if selection.mode == "task_status" and selection.task_id is not None:
        status = selection.task_status or "any"
        match: dict = {"id": task_api_id(selection.task_id), "type": "task"}
        if status in ("any", "none"):
            match["metadata"] = {"status": {"$exists": status == "any"}}
        else:
            match["metadata"] = {"status": status}
        return {"mode": "filter", "dql": json.dumps({"$and": [{"metadata.system.refs": {"$match": match}}]})}
    return {"mode": "filter", "dql": json.dumps(selection.dql or {})}


# ---------------------------------------------------------------- task tables

TASK_KINDS = [("annotation", "Annotation"), ("qa", "QA"), ("pulling", "Pulling"), ("consensus", "Consensus")]
TASK_STATES = [
    ("open", "Open"),
    ("completed", "Completed"),
    ("completed with issues", "Completed with issues"),
    ("closed", "Closed"),
]
DUE_WINDOWS = [("overdue", "Overdue"), ("day", "Due within 24 hours"), ("week", "Due within 7 days")]


class TaskFilter(django_filters.FilterSet):
    """The project page's task tables, narrowed by state, kind, person and due date."""

    state = django_filters.ChoiceFilter(method="filter_state", choices=TASK_STATES, empty_label="Any state")
    kind = django_filters.ChoiceFilter(method="filter_kind", choices=TASK_KINDS, empty_label="Any type", label="Type")
    assignee = django_filters.ModelChoiceFilter(
        method="filter_assignee", queryset=None, empty_label="Anyone", label="Assignee"
    )
    due = django_filters.ChoiceFilter(method="filter_due", choices=DUE_WINDOWS, empty_label="Any due date")

    class Meta:
        model = AnnotationTask
        fields: list[str] = []

    def __init__(self, data: Any = None, *args: Any, project: Project, people: QuerySet[User], **kwargs: Any) -> None:
        super().__init__(data, *args, **kwargs)
        self.filters["assignee"].queryset = people
        self.filters["assignee"].field.label_from_instance = lambda user: user.email

    def filter_state(self, queryset, name, value):
        if value == "closed":
            return queryset.filter(closed_at__isnull=False)
        return queryset.filter(state=value, closed_at__isnull=True)

    def filter_kind(self, queryset, name, value):
        if value == "pulling":
            return queryset.filter(allocation="pulling")
        if value == "consensus":
            return queryset.filter(consensus_assignees__isnull=False)
        return queryset.filter(type=value)

    def filter_assignee(self, queryset, name, value):
        return queryset.filter(assignments__assignee=value, assignments__removed=False).distinct()

    def filter_due(self, queryset, name, value):
        now = timezone.now()
        if value == "overdue":
            return queryset.filter(due_at__lt=now, state="open", closed_at__isnull=True)
        horizon = now + datetime.timedelta(days=1 if value == "day" else 7)
        return queryset.filter(due_at__gte=now, due_at__lte=horizon)
