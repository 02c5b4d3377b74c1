"""The item browser's filters, and the same filters as a task `Selection`.

The FilterSet does not filter by itself: its cleaned data becomes a `Selection`
(`itemfilter_to_selection`) and `select_items` answers it. So the list a manager browses
and the items a task made "from this selection" are the same query by construction.
"""

import datetime
import json
import re

import django_filters
from django import forms

from taskboard.annotation.models import AnnotationTask, TaskStatus
from taskboard.annotation.selection import Selection, select_items
from taskboard.datasets.folders import normalize_folder
from taskboard.datasets.ids import task_api_id
from taskboard.datasets.models import Item, Label

YES_NO = [("yes", "Annotated"), ("no", "Not annotated")]
_METADATA_PATH = re.compile(r"^[A-Za-z0-9_\-]+(\.[A-Za-z0-9_\-]+){0,9}$")
_GLOB = re.compile(r"^[^\x00-\x1f]{1,500}$")


class ItemFilterForm(forms.Form):
    """Checks the browser's filter input; `itemfilter_to_selection` reads the result."""

    def clean(self):
        data = super().clean()
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


class ItemFilter(django_filters.FilterSet):
    folder = django_filters.CharFilter(method="noop", label="Folder", max_length=1000)
    subfolders = django_filters.BooleanFilter(
        method="noop", label="Include subfolders", widget=forms.CheckboxInput, initial=True
    )
    annotated = django_filters.ChoiceFilter(method="noop", choices=YES_NO, empty_label="Any", label="Annotation")
    unassigned = django_filters.BooleanFilter(method="noop", label="In no task", widget=forms.CheckboxInput)
    task = django_filters.ModelChoiceFilter(
        method="noop", queryset=AnnotationTask.objects.none(), label="Task", empty_label="Any task"
    )
    status = django_filters.ChoiceFilter(method="noop", label="Status there", empty_label="Any status")
    label = django_filters.ChoiceFilter(method="noop", label="Has label", empty_label="Any label")
    name = django_filters.CharFilter(
        method="noop", label="Name", max_length=500, help_text="Glob: * any characters but /, ** any characters."
    )
    meta_key = django_filters.CharFilter(method="noop", label="Metadata field", max_length=200)
    meta_value = django_filters.CharFilter(method="noop", label="Value", max_length=500)
    created_from = django_filters.DateFilter(
        method="noop", label="Created from", widget=forms.DateInput(attrs={"type": "date"})
    )
    created_to = django_filters.DateFilter(
        method="noop", label="Created to", widget=forms.DateInput(attrs={"type": "date"})
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
        choices = [("any", "Any status"), ("none", "No status")]
        seen = set()
        rows = TaskStatus.objects.filter(task__dataset=dataset).order_by("position", "key").values_list("key", "label")
        for key, label in rows:
            if key not in seen:
                seen.add(key)
                choices.append((key, label))
        self.filters["status"].extra["choices"] = choices
        labels = (
            Label.objects.filter(recipe__dataset=dataset).order_by("name").values_list("name", flat=True).distinct()
        )
        self.filters["label"].extra["choices"] = [(n, n) for n in labels]
        self.selection: Selection | None = None

    def noop(self, queryset, name, value):
        return queryset

    def filter_queryset(self, queryset):
        self.selection = itemfilter_to_selection(self.form.cleaned_data)
        return select_items(dataset=self.dataset, selection=self.selection)


def _metadata_value(text: str):
    """What a typed value may mean in JSON: 3 may be stored as 3 or "3", true as true or "true"."""
    values = [text]
    try:
        parsed = json.loads(text)
    except ValueError:
        return values
    if isinstance(parsed, bool | int | float) and not isinstance(parsed, str):
        values.append(parsed)
    return values


def _day_start(day: datetime.date) -> str:
    return datetime.datetime.combine(day, datetime.time.min, tzinfo=datetime.UTC).isoformat()


def itemfilter_to_selection(data: dict) -> Selection:
    """The browser's cleaned filter data as a Selection: a plain mode when one filter is
    set (so the wizard shows it plainly), else a DQL filter that ANDs them all."""
    folder = data.get("folder") or ""
    subfolders = bool(data.get("subfolders"))
    annotated = data.get("annotated") or ""
    unassigned = bool(data.get("unassigned"))
    task = data.get("task")
    status = data.get("status") or ""
    name = (data.get("name") or "").strip()
    label = data.get("label") or ""
    key = data.get("meta_key") or ""
    value = data.get("meta_value") or ""
    start, end = data.get("created_from"), data.get("created_to")

    clauses: list[dict] = []
    simple: list[Selection] = []
    if folder and not (folder == "/" and subfolders):
        if subfolders:
            clauses.append({"$or": [{"dir": folder}, {"dir": folder.rstrip("/") + "/**"}]})
        else:
            clauses.append({"dir": folder})
        simple.append(Selection(mode="folder", folder=folder, include_subfolders=subfolders))
    if annotated in ("yes", "no"):
        clauses.append({"annotated": annotated == "yes"})
        simple.append(Selection(mode="annotated", annotated=annotated == "yes"))
    if unassigned:
        clauses.append({"metadata.system.refs": []})
        simple.append(Selection(mode="unassigned"))
    if task is not None:
        status = status or "any"
        match: dict = {"id": task_api_id(task.pk), "type": "task"}
        if status == "any":
            match["metadata"] = {"status": {"$exists": True}}
        elif status == "none":
            match["metadata"] = {"status": {"$exists": False}}
        else:
            match["metadata"] = {"status": status}
        clauses.append({"metadata.system.refs": {"$match": match}})
        simple.append(Selection(mode="task_status", task_id=task.pk, task_status=status))
    if label:
        clauses.append({"label": label})
    if name:
        clauses.append({"filename" if "/" in name else "name": name})
    if key:
        path = f"metadata.{key}"
        if value:
            options = _metadata_value(value)
            clauses.append({path: options[0]} if len(options) == 1 else {path: {"$in": options}})
        else:
            clauses.append({path: {"$exists": True}})
    if start:
        clauses.append({"createdAt": {"$gte": _day_start(start)}})
    if end:
        clauses.append({"createdAt": {"$lt": _day_start(end + datetime.timedelta(days=1))}})

    if not clauses:
        return Selection(mode="all")
    if len(clauses) == 1 and len(simple) == 1:
        return simple[0]
    return Selection(mode="filter", dql={"$and": clauses})


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
    if selection.mode == "task_status":
        status = selection.task_status or "any"
        match: dict = {"id": task_api_id(selection.task_id), "type": "task"}
        if status in ("any", "none"):
            match["metadata"] = {"status": {"$exists": status == "any"}}
        else:
            match["metadata"] = {"status": status}
        return {"mode": "filter", "dql": json.dumps({"$and": [{"metadata.system.refs": {"$match": match}}]})}
    return {"mode": "filter", "dql": json.dumps(selection.dql or {})}
