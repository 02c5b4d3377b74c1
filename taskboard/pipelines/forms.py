"""Input cleaning for the editor; the rules live in the services."""

import datetime
from typing import cast

from django import forms
from django.utils import timezone

from taskboard.accounts.models import User
from taskboard.annotation.selection import Selection
from taskboard.annotation.workload import WorkloadUnit
from taskboard.datasets.models import Dataset, Recipe
from taskboard.pipelines import editing, queries
from taskboard.pipelines.editing import NodeFields
from taskboard.pipelines.models import Node, NodeKind
from taskboard.projects import queries as project_queries

WORKLOAD_ROWS = 4


class PipelineForm(forms.Form):
    name = forms.CharField(max_length=200)
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))


class RecipeChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj):
        return f"{obj.dataset.name} · {obj.name}"


class NodeForm(forms.Form):
    kind = forms.ChoiceField(choices=NodeKind.choices)
    name = forms.CharField(max_length=200)
    column = forms.IntegerField(min_value=0, max_value=50)
    row = forms.IntegerField(min_value=0, max_value=50)
    dataset = forms.ModelChoiceField(queryset=Dataset.objects.none())
    folder = forms.CharField(required=False, max_length=1000, help_text="Dataset nodes: items enter from this folder.")
    recipe = RecipeChoiceField(
        queryset=Recipe.objects.none(), required=False, help_text="Default: the dataset's recipe."
    )
    owner = forms.ModelChoiceField(queryset=User.objects.none(), required=False, help_text="Default: you.")
    due_at = forms.DateTimeField(
        required=False,
        label="Due date",
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        help_text="Default: a week after the task is made.",
    )
    priority = forms.TypedChoiceField(
        choices=[(1, "Low"), (2, "Medium"), (3, "High")], coerce=int, initial=2, required=False
    )
    batch_size = forms.IntegerField(required=False, help_text="Pulling only: 3 to 100.")
    max_batch_workload = forms.IntegerField(required=False, label="Max batch workload")
    statuses = forms.CharField(
        required=False,
        max_length=500,
        help_text="Custom statuses, comma-separated (blank: completed, discard / approved, discard).",
    )

    def __init__(self, *args, project, **kwargs):
        super().__init__(*args, **kwargs)
        self.project = project
        cast(forms.ModelChoiceField, self.fields["dataset"]).queryset = queries.project_datasets(project)
        cast(forms.ModelChoiceField, self.fields["recipe"]).queryset = queries.project_recipes(project)
        cast(forms.ModelChoiceField, self.fields["owner"]).queryset = project_queries.project_members(project)
        workers = project_queries.assignable_users(project)
        for i in range(1, WORKLOAD_ROWS + 1):
            self.fields[f"assignee_{i}"] = forms.ModelChoiceField(
                queryset=workers, required=False, label=f"Person {i}"
            )
            self.fields[f"load_{i}"] = forms.IntegerField(required=False, label=f"Load {i} (%)")

    def basic_fields(self):
        return [self[name] for name in ("kind", "name", "column", "row", "dataset", "folder")]

    def task_fields(self):
        return [
            self[name]
            for name in ("recipe", "owner", "due_at", "priority", "batch_size", "max_batch_workload", "statuses")
        ]

    def workload_rows(self):
        return [(self[f"assignee_{i}"], self[f"load_{i}"]) for i in range(1, WORKLOAD_ROWS + 1)]

    def clean_due_at(self):
        value = self.cleaned_data.get("due_at")
        if value is not None and timezone.is_naive(value):
            value = timezone.make_aware(value)
        return value

    def clean(self):
        super().clean()
        data = self.cleaned_data
        workload = []
        for i in range(1, WORKLOAD_ROWS + 1):
            person, load = data.get(f"assignee_{i}"), data.get(f"load_{i}")
            if person is None and load is None:
                continue
            if person is None:
                self.add_error(f"assignee_{i}", "Choose a person for this load.")
            elif load is None:
                self.add_error(f"load_{i}", "Give this person a load.")
            else:
                workload.append(WorkloadUnit(person, load))
        data["workload"] = workload
        keys = [s.strip() for s in (data.get("statuses") or "").split(",") if s.strip()]
        data["statuses"] = [{"key": key, "label": key} for key in keys] or None
        return data

    def service_kwargs(self) -> NodeFields:
        """The node's settings for `node_add` and `node_update` (a dataset node's leave its workload out)."""
        data = self.cleaned_data
        fields = NodeFields(
            kind=data["kind"],
            name=data["name"],
            column=data["column"],
            row=data["row"],
            dataset=data.get("dataset"),
            folder=data["folder"],
            recipe=data.get("recipe"),
            owner=data.get("owner"),
            due_at=data.get("due_at"),
            priority=data.get("priority") or 2,
            batch_size=data.get("batch_size"),
            max_batch_workload=data.get("max_batch_workload"),
            statuses=data.get("statuses"),
        )
        if fields["kind"] != NodeKind.DATASET:
            fields["workload"] = data["workload"]
        return fields

    @classmethod
    def initial_for(cls, node: Node) -> dict[str, object]:
        initial: dict[str, object] = {
            "kind": node.kind,
            "name": node.name,
            "column": node.column,
            "row": node.row,
            "dataset": node.dataset_id,
            "folder": node.folder,
            "recipe": node.recipe_id,
            "owner": node.owner_id,
            "due_at": timezone.localtime(node.due_at) if node.due_at else None,
            "priority": node.priority,
            "batch_size": node.batch_size,
            "max_batch_workload": node.max_batch_workload,
            "statuses": ", ".join(s["key"] for s in node.statuses),
        }
        for i, w in enumerate(node.workload.all()[:WORKLOAD_ROWS], start=1):
            initial[f"assignee_{i}"] = w.assignee_id
            initial[f"load_{i}"] = w.load
        return initial


class ConnectionForm(forms.Form):
    source = forms.ModelChoiceField(queryset=Node.objects.none(), label="From")
    status = forms.ChoiceField(required=False, label="When the item gets")
    target = forms.ModelChoiceField(queryset=Node.objects.none(), label="Into")
    rework = forms.BooleanField(required=False, label="Rework (may lead back)")

    def __init__(self, *args, pipeline, **kwargs):
        super().__init__(*args, **kwargs)
        nodes = pipeline.nodes.order_by("column", "row", "id")
        cast(forms.ModelChoiceField, self.fields["source"]).queryset = nodes
        cast(forms.ModelChoiceField, self.fields["target"]).queryset = nodes
        keys = []
        for node in nodes:
            for key in editing.node_status_keys(node):
                if key and key not in keys:
                    keys.append(key)
        cast(forms.ChoiceField, self.fields["status"]).choices = [("", "any item (from a dataset node)")] + [
            (k, k) for k in keys
        ]


class RunForm(forms.Form):
    folder = forms.CharField(
        required=False,
        max_length=1000,
        help_text="Blank: every item of the dataset. A folder includes its subfolders.",
    )

    def selection(self):
        folder = (self.cleaned_data.get("folder") or "").strip()
        if folder:
            return Selection(mode="folder", folder=folder, include_subfolders=True)
        return Selection(mode="all")


def default_due() -> datetime.datetime:
    return timezone.now() + datetime.timedelta(days=7)
