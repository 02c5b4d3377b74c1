"""Forms of the create-task wizard and of the task page's actions: they clean input only.

Rules that need the database as a whole (a selection matching nothing, limits the services
enforce) come back from the services as ValidationError dicts and are put beside the fields.
"""

import datetime
import json
import re
from typing import Any, cast

from django import forms
from django.core.exceptions import ValidationError
from django.forms.boundfield import BoundField
from django.utils import timezone

from taskboard.accounts.models import User
from taskboard.annotation.models import (
    BATCH_SIZE_MAX,
    BATCH_SIZE_MIN,
    AnnotationTask,
    Assignment,
    AssignmentKind,
    Priority,
    SkipTo,
    TaskStatus,
    TaskType,
)
from taskboard.annotation.selection import Selection
from taskboard.annotation.workload import WorkloadUnit, equal_loads
from taskboard.inputs import IdChoiceField, IdsChoiceField
from taskboard.projects import queries


class DescribedBoundField(BoundField):
    """A control tied to its help and to its error box (`annotation/_field.html`): `aria-describedby`
    names both, so a screen reader reads the error with the field. The error box is always in the
    page, so an error that appears as one types is linked as well as announced."""

    def build_widget_attrs(self, attrs, widget=None):
        attrs = super().build_widget_attrs(attrs, widget)
        described = ([f"{self.auto_id}_helptext"] if self.help_text else []) + [f"err-{self.html_name}"]
        attrs["aria-describedby"] = " ".join(described)
        return attrs


class AccessibleForm(forms.Form):
    bound_field_class = DescribedBoundField


ITEM_MODES = [
    ("folder", "A folder"),
    ("annotated", "By annotation"),
    ("task_status", "By status in another task"),
    ("unassigned", "Items in no task"),
    ("list", "A list of items"),
    ("all", "The whole dataset"),
    ("filter", "A filter (DQL)"),
]

TASK_KINDS = [
    ("annotation", "Annotation"),
    ("qa", "QA review of a task"),
    ("pulling", "Pulling"),
    ("consensus", "Consensus"),
]

MAX_LISTED_ITEMS = 100_000


def user_label(user) -> str:
    return user.email


class UserChoiceField(IdChoiceField):
    def label_from_instance(self, obj):
        return user_label(obj)


class UsersChoiceField(IdsChoiceField):
    def label_from_instance(self, obj):
        return user_label(obj)


class ShareField(forms.IntegerField):
    """A workload share in percent. Text far longer than a share is refused before int() reads it
    (int() of more than 4300 digits raises)."""

    widget = forms.NumberInput(attrs={"inputmode": "numeric", "class": "load", "size": 4})

    def to_python(self, value):
        if isinstance(value, str) and len(value.strip()) > 20:
            raise ValidationError("A share is a whole number from 1 to 100.", code="invalid")
        return super().to_python(value)


def typed_load_sum(form) -> int:
    """The shares typed for the ticked assignees, added up for the live sum beside the workload editor.

    Each share is read by its own field; one the field refuses counts as 0 (its error shows beside it).
    """
    if not form.is_bound:
        return 0
    total = 0
    for user_id in form.data.getlist("assignees"):
        field = form.fields.get(f"load_{user_id}")
        if field is None:
            continue
        try:
            total += field.clean(form.data.get(f"load_{user_id}")) or 0
        except ValidationError:
            continue
    return total


class DueAtField(forms.DateTimeField):
    widget = forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M")

    def __init__(self, **kwargs):
        kwargs.setdefault("input_formats", ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M"])
        kwargs.setdefault(
            "error_messages",
            {"invalid": "Enter a date and time, e.g. 2030-01-31 18:00.", "required": "Pick a due date."},
        )
        super().__init__(**kwargs)


def default_due_at() -> datetime.datetime:
    local = timezone.localtime() + datetime.timedelta(days=7)
    return local.replace(hour=18, minute=0, second=0, microsecond=0)


def parse_item_refs(text: str) -> tuple[tuple[int, ...], tuple[str, ...]]:
    """Pasted ids or filenames, one per line (commas work too): numbers are ids, the rest filenames."""
    ids: list[int] = []
    names: list[str] = []
    for token in re.split(r"[\n,]+", text or ""):
        token = token.strip()
        if not token:
            continue
        # A "number" too long for an id (Python refuses int() past 4300 digits) is looked up as a filename.
        if token.isdigit() and len(token) <= 18:
            ids.append(int(token))
        else:
            names.append(token if token.startswith("/") else f"/{token}")
    return tuple(dict.fromkeys(ids)), tuple(dict.fromkeys(names))


class ItemsForm(AccessibleForm):
    """Which items: one of the selection modes (docs/tasks.md), built into a `Selection`."""

    mode = forms.ChoiceField(
        choices=ITEM_MODES,
        widget=forms.RadioSelect,
        initial="folder",
        error_messages={"required": "Pick how to choose items."},
    )
    folder = forms.CharField(
        required=False,
        max_length=1000,
        label="Folder",
        initial="/",
        widget=forms.TextInput(attrs={"list": "dataset-folders", "autocomplete": "off", "spellcheck": "false"}),
    )
    include_subfolders = forms.BooleanField(required=False, initial=True, label="Include subfolders")
    annotated = forms.ChoiceField(
        required=False,
        choices=[("no", "Not annotated"), ("yes", "Annotated")],
        initial="no",
        label="Annotation",
        widget=forms.RadioSelect,
    )
    status_task = IdChoiceField(
        required=False, queryset=AnnotationTask.objects.none(), label="Task", empty_label="Choose a task"
    )
    task_status = forms.ChoiceField(required=False, label="Status in that task", initial="any")
    items = forms.CharField(
        required=False,
        label="Item ids or filenames",
        widget=forms.Textarea(attrs={"rows": 5, "placeholder": "one per line, e.g. 42 or /city/day/img001.jpg"}),
    )
    dql = forms.CharField(
        required=False,
        label="Filter (DQL JSON)",
        widget=forms.Textarea(attrs={"rows": 5, "placeholder": '{"$and": [{"dir": "/city"}, {"annotated": false}]}'}),
    )

    def __init__(self, *args, dataset, **kwargs):
        super().__init__(*args, **kwargs)
        self.dataset = dataset
        cast(forms.ModelChoiceField, self.fields["status_task"]).queryset = AnnotationTask.objects.filter(
            dataset=dataset
        ).order_by("name")
        keys = TaskStatus.objects.filter(task__dataset=dataset).values_list("key", "label").distinct().order_by("key")
        choices = [("any", "Any status"), ("none", "No status")]
        seen = set()
        for key, label in keys:
            if key not in seen:
                seen.add(key)
                choices.append((key, label))
        cast(forms.ChoiceField, self.fields["task_status"]).choices = choices
        self.selection: Selection | None = None

    def clean_folder(self):
        folder = (self.cleaned_data.get("folder") or "").strip()
        if folder and not folder.startswith("/"):
            folder = "/" + folder
        if len(folder) > 1:
            folder = folder.rstrip("/")
        return folder

    def clean_dql(self):
        text = (self.cleaned_data.get("dql") or "").strip()
        if not text:
            return None
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            raise forms.ValidationError(
                f"Not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})."
            ) from None
        except ValueError:
            # Python refuses to read a number of more than 4,300 digits, with a plain ValueError.
            raise forms.ValidationError("Not valid JSON: a number is too long.") from None
        except RecursionError:
            raise forms.ValidationError("The filter is nested too deeply.") from None
        if not isinstance(value, dict):
            raise forms.ValidationError('A filter is a JSON object, e.g. {"$and": [{"dir": "/city"}]}.')
        # Accept a whole query ({"filter": {...}}) as well as its filter part.
        if set(value) == {"filter"} or ("filter" in value and isinstance(value["filter"], dict)):
            value = value["filter"]
        return value

    def clean(self):
        super().clean()
        data = self.cleaned_data
        mode = data.get("mode")
        if mode == "folder":
            if not data.get("folder"):
                self.add_error("folder", "Enter a folder, e.g. /city/day (or / for everything).")
            else:
                self.selection = Selection(
                    mode="folder", folder=data["folder"], include_subfolders=bool(data.get("include_subfolders"))
                )
        elif mode == "annotated":
            if data.get("annotated") not in ("yes", "no"):
                self.add_error("annotated", "Choose annotated or not annotated.")
            else:
                self.selection = Selection(mode="annotated", annotated=data["annotated"] == "yes")
        elif mode == "task_status":
            task = data.get("status_task")
            status = data.get("task_status") or "any"
            if task is None:
                self.add_error("status_task", "Choose the task whose statuses select the items.")
            elif status not in ("any", "none") and not task.statuses.filter(key=status).exists():
                self.add_error("task_status", f"{task.name} has no status “{status}”.")
            else:
                self.selection = Selection(mode="task_status", task_id=task.pk, task_status=status)
        elif mode == "unassigned":
            self.selection = Selection(mode="unassigned")
        elif mode == "list":
            ids, names = parse_item_refs(data.get("items") or "")
            if not ids and not names:
                self.add_error("items", "Paste item ids or filenames, one per line.")
            elif len(ids) + len(names) > MAX_LISTED_ITEMS:
                self.add_error("items", f"At most {MAX_LISTED_ITEMS:,} items in a list; use a folder or a filter.")
            else:
                self.selection = Selection(mode="list", item_ids=ids, filenames=names)
        elif mode == "all":
            self.selection = Selection(mode="all")
        elif mode == "filter":
            if not data.get("dql") and "dql" not in self.errors:
                self.add_error("dql", "Enter a filter.")
            elif data.get("dql"):
                self.selection = Selection(mode="filter", dql=data["dql"])
        return data


def selection_initial(selection: dict | None) -> dict:
    """Form initial data for a stored selection (Selection.to_json())."""
    if not selection:
        return {}
    mode = selection.get("mode")
    initial = {"mode": mode}
    if mode == "folder":
        initial.update(
            folder=selection.get("folder") or "/", include_subfolders=selection.get("include_subfolders", True)
        )
    elif mode == "annotated":
        initial["annotated"] = "yes" if selection.get("annotated") else "no"
    elif mode == "task_status":
        initial.update(status_task=selection.get("task_id"), task_status=selection.get("task_status") or "any")
    elif mode == "list":
        refs = [str(i) for i in selection.get("item_ids") or ()] + list(selection.get("filenames") or ())
        initial["items"] = "\n".join(refs)
    elif mode == "filter":
        initial["dql"] = json.dumps(selection.get("dql") or {}, indent=2)
    return initial


class TypeForm(AccessibleForm):
    kind = forms.ChoiceField(
        choices=TASK_KINDS,
        widget=forms.RadioSelect,
        initial="annotation",
        label="Task type",
        error_messages={"required": "Pick a task type."},
    )
    parent = IdChoiceField(
        required=False, queryset=AnnotationTask.objects.none(), label="Task to review", empty_label="Choose a task"
    )
    qa_intake = forms.BooleanField(
        required=False, initial=True, label="Take in items as they get a status there later"
    )
    batch_size = forms.IntegerField(
        required=False,
        initial=10,
        label="Batch size",
        help_text=f"Items each person gets at a time ({BATCH_SIZE_MIN} to {BATCH_SIZE_MAX}).",
    )
    max_batch_workload = forms.IntegerField(
        required=False,
        initial=15,
        label="Max batch workload",
        help_text="Most undone items a person holds: batch size + 2 up to 2 × batch size.",
    )
    consensus_percentage = forms.IntegerField(
        required=False,
        initial=100,
        label="Consensus items (%)",
        help_text="Share of items labelled by several people.",
    )
    consensus_assignees = forms.IntegerField(
        required=False,
        initial=2,
        label="Annotators per consensus item",
        help_text="2 up to the number of assignees.",
    )

    def __init__(self, *args, dataset, **kwargs):
        super().__init__(*args, **kwargs)
        cast(forms.ModelChoiceField, self.fields["parent"]).queryset = AnnotationTask.objects.filter(
            dataset=dataset, type=TaskType.ANNOTATION
        ).order_by("name")

    def clean(self):
        super().clean()
        data = self.cleaned_data
        kind = data.get("kind")
        if kind == "qa" and not data.get("parent") and "parent" not in self.errors:
            self.add_error("parent", "Choose the annotation task to review.")
        if kind == "pulling":
            size, most = data.get("batch_size"), data.get("max_batch_workload")
            if size is None and "batch_size" not in self.errors:
                self.add_error("batch_size", "Enter a batch size.")
            elif size is not None and not BATCH_SIZE_MIN <= size <= BATCH_SIZE_MAX:
                self.add_error("batch_size", f"Batch size must be from {BATCH_SIZE_MIN} to {BATCH_SIZE_MAX}.")
            if most is None and "max_batch_workload" not in self.errors:
                self.add_error("max_batch_workload", "Enter the max batch workload.")
            elif most is not None and size is not None and not size + 2 <= most <= 2 * size:
                self.add_error(
                    "max_batch_workload",
                    f"Max batch workload must be from {size + 2} to {2 * size} (batch size + 2 to 2 × batch size).",
                )
        if kind == "consensus":
            pct, per_item = data.get("consensus_percentage"), data.get("consensus_assignees")
            if pct is None and "consensus_percentage" not in self.errors:
                self.add_error("consensus_percentage", "Enter a percentage from 0 to 100.")
            elif pct is not None and not 0 <= pct <= 100:
                self.add_error("consensus_percentage", "Consensus percentage must be from 0 to 100.")
            if per_item is None and "consensus_assignees" not in self.errors:
                self.add_error("consensus_assignees", "Enter how many people label each consensus item.")
            elif per_item is not None and per_item < 2:
                self.add_error("consensus_assignees", "At least 2 people label a consensus item.")
        return data


class PeopleForm(AccessibleForm):
    """Assignees with their shares, due date, priority, recipe, owner and name."""

    assignees = UsersChoiceField(
        queryset=None,
        widget=forms.CheckboxSelectMultiple,
        label="Assignees",
        error_messages={"required": "Pick at least one assignee."},
    )
    split = forms.ChoiceField(
        required=False,  # pulling tasks have no split; no choice means equal
        choices=[("equal", "Equal: the same number of items each (at most one apart)"), ("custom", "Percentages")],
        initial="equal",
        widget=forms.RadioSelect,
        label="Workload",
    )
    due_at = DueAtField(label="Due date and time")
    priority = forms.TypedChoiceField(choices=Priority.choices, coerce=int, initial=Priority.MEDIUM, label="Priority")
    recipe = IdChoiceField(queryset=None, label="Recipe", empty_label=None)
    owner = UserChoiceField(queryset=None, label="Owner", empty_label=None)
    name = forms.CharField(max_length=200, label="Task name", error_messages={"required": "Give the task a name."})
    lock_after_due = forms.BooleanField(required=False, label="Lock the task after its due date")

    def __init__(self, *args, project, dataset, kind="annotation", consensus_assignees=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.project = project
        self.kind = kind
        self.consensus_assignees = consensus_assignees
        self.members = list(queries.assignable_users(project))
        cast(forms.ModelChoiceField, self.fields["assignees"]).queryset = queries.assignable_users(project)
        cast(forms.ModelChoiceField, self.fields["recipe"]).queryset = dataset.recipes.all()
        cast(forms.ModelChoiceField, self.fields["owner"]).queryset = queries.project_members(project)
        if kind == "pulling":
            self.fields["assignees"].label = "Allowed assignees"
        for member in self.members:
            self.fields[f"load_{member.pk}"] = ShareField(required=False, label=f"Share of {member.email} (%)")

    def load_field(self, member):
        return self[f"load_{member.pk}"]

    def member_rows(self):
        """(member, checkbox widget, load bound field) for the workload editor."""
        boxes = {str(w.data["value"]): w for w in self["assignees"]}
        return [(m, boxes.get(str(m.pk)), self.load_field(m)) for m in self.members]

    def clean_due_at(self):
        due_at = self.cleaned_data["due_at"]
        if due_at <= timezone.now():
            raise forms.ValidationError("The due date must be in the future.")
        return due_at

    def clean_name(self):
        name = self.cleaned_data["name"].strip()
        if not name:
            raise forms.ValidationError("Give the task a name.")
        if AnnotationTask.objects.filter(project=self.project, name=name).exists():
            raise forms.ValidationError(f"A task named “{name}” already exists in this project.")
        return name

    def clean(self):
        super().clean()
        data = self.cleaned_data
        assignees = list(data.get("assignees") or [])
        self.workload: list[tuple] | None = None
        self.load_sum = 0
        if self.kind != "pulling" and data.get("split") == "custom" and assignees:
            loads = []
            for user in assignees:
                load = data.get(f"load_{user.pk}")
                if load is None:
                    self.add_error(f"load_{user.pk}", "Enter a share from 1 to 100.")
                elif not 1 <= load <= 100:
                    self.add_error(f"load_{user.pk}", "A share is a whole number from 1 to 100.")
                loads.append((user, load or 0))
            self.load_sum = sum(load for _, load in loads)
            if self.load_sum != 100:
                self.add_error("split", f"The shares add up to {self.load_sum}%; they must add up to exactly 100%.")
            else:
                self.workload = loads
        if self.kind == "consensus" and self.consensus_assignees and 0 < len(assignees) < self.consensus_assignees:
            self.add_error(
                "assignees",
                f"Consensus asks {self.consensus_assignees} people per item: pick at least that many assignees.",
            )
        return data


class AddItemsForm(ItemsForm):
    assignees = UsersChoiceField(queryset=None, required=False, widget=forms.CheckboxSelectMultiple, label="Assign to")
    to_queue = forms.BooleanField(required=False, label="Into the pulling queue")

    def __init__(self, *args, task, **kwargs):
        super().__init__(*args, dataset=task.dataset, **kwargs)
        self.task = task
        cast(forms.ModelChoiceField, self.fields["assignees"]).queryset = queries.assignable_users(task.project)
        if not task.is_pulling:
            del self.fields["to_queue"]

    def clean(self):
        super().clean()
        data = self.cleaned_data
        if not data.get("to_queue") and not data.get("assignees"):
            message = (
                "Pick assignees, or put the items into the pulling queue."
                if self.task.is_pulling
                else ("Pick at least one assignee.")
            )
            self.add_error("assignees", message)
        return data


class RemoveItemsForm(ItemsForm):
    def __init__(self, *args, task, **kwargs):
        super().__init__(*args, dataset=task.dataset, **kwargs)
        self.task = task


class AssignmentChoiceField(IdChoiceField):
    def label_from_instance(self, obj):
        return f"{obj.assignee.email} ({obj.item_count} items)"


class ReassignForm(AccessibleForm):
    assignment = AssignmentChoiceField(queryset=None, label="Assignment", empty_label="Choose an assignment")
    to_user = UserChoiceField(queryset=None, label="Give it to", empty_label="Choose a person")

    def __init__(self, *args, task, **kwargs):
        super().__init__(*args, **kwargs)
        cast(forms.ModelChoiceField, self.fields["assignment"]).queryset = task_work_assignments(task)
        cast(forms.ModelChoiceField, self.fields["to_user"]).queryset = queries.assignable_users(task.project)

    def clean(self):
        super().clean()
        data = self.cleaned_data
        if data.get("assignment") and data.get("to_user") and data["assignment"].assignee_id == data["to_user"].pk:
            self.add_error("to_user", "That person already holds this assignment.")
        return data


class RedistributeForm(AccessibleForm):
    assignment = AssignmentChoiceField(queryset=None, label="Assignment", empty_label="Choose an assignment")
    assignees = UsersChoiceField(
        queryset=None,
        widget=forms.CheckboxSelectMultiple,
        label="Spread its undone items over",
        error_messages={"required": "Pick at least one person."},
    )
    split = PeopleForm.base_fields["split"]

    def __init__(self, *args, task, **kwargs):
        super().__init__(*args, **kwargs)
        cast(forms.ModelChoiceField, self.fields["assignment"]).queryset = task_work_assignments(task)
        cast(forms.ModelChoiceField, self.fields["assignees"]).queryset = queries.assignable_users(task.project)
        self.members = list(queries.assignable_users(task.project))
        for member in self.members:
            self.fields[f"load_{member.pk}"] = ShareField(required=False, label=f"Share of {member.email} (%)")

    member_rows = PeopleForm.member_rows
    load_field = PeopleForm.load_field

    def clean(self):
        super().clean()
        data = self.cleaned_data
        assignees = list(data.get("assignees") or [])
        self.workload = None
        self.load_sum = 0
        if data.get("split") == "custom" and assignees:
            loads = [(u, data.get(f"load_{u.pk}") or 0) for u in assignees]
            for user, load in loads:
                if not 1 <= load <= 100:
                    self.add_error(f"load_{user.pk}", "A share is a whole number from 1 to 100.")
            self.load_sum = sum(load for _, load in loads)
            if self.load_sum != 100:
                self.add_error("split", f"The shares add up to {self.load_sum}%; they must add up to exactly 100%.")
            else:
                self.workload = loads
        return data


def task_work_assignments(task):
    return (
        Assignment.objects.filter(task=task, kind=AssignmentKind.WORK, removed=False)
        .select_related("assignee")
        .order_by("assignee__email")
    )


class CloseForm(AccessibleForm):
    confirm = forms.BooleanField(label="Yes, close this task", error_messages={"required": "Tick the box to confirm."})


class LeaseLengthForm(forms.Form):
    lease_minutes = forms.IntegerField(label="Lease (minutes)", min_value=1, max_value=7 * 24 * 60)


class LeaseReleaseForm(forms.Form):
    """Release one person's leases (`user`) or one held item (`item`)."""

    user = forms.IntegerField(required=False, min_value=1)
    item = forms.IntegerField(required=False, min_value=1)

    def clean(self):
        data = super().clean() or {}
        if bool(data.get("user")) == bool(data.get("item")):
            raise ValidationError("Release either one person's leases or one item.")
        return data


class TaskPriorityForm(forms.Form):
    task_priority = forms.TypedChoiceField(label="Task priority", choices=Priority.choices, coerce=int)


class FilterForm(forms.Form):
    """A DQL filter over the task's items (empty: every item of the task)."""

    dql = forms.CharField(
        label="Filter (DQL)",
        required=False,
        widget=forms.Textarea(attrs={"rows": 4, "placeholder": '{"$and": [{"dir": "/city"}]}'}),
        help_text="Dataloop's query language, as in the wizard; leave empty for every item of the task.",
    )

    def clean_dql(self) -> dict | None:
        text = (self.cleaned_data.get("dql") or "").strip()
        if not text:
            return None
        try:
            value = json.loads(text)
        except ValueError as exc:
            raise ValidationError(f"Not JSON: {exc}") from None
        if not isinstance(value, dict):
            raise ValidationError("A filter is a JSON object.")
        return value.get("filter", value)

    @property
    def selection(self) -> Selection | None:
        dql = self.cleaned_data.get("dql")
        return Selection(mode="filter", dql=dql) if dql else None


class ItemPriorityForm(FilterForm):
    """One priority over every item a DQL filter matches (empty: every item of the task)."""

    priority = forms.IntegerField(label="Item priority (0 to 100, higher first)", min_value=0, max_value=100)
    field_order = ["priority", "dql"]


CLEAR_STATUS = "__clear__"


class BulkStatusForm(FilterForm):
    """One status (or none) over every held item a DQL filter matches."""

    status = forms.ChoiceField(label="Status")
    field_order = ["status", "dql"]

    def __init__(self, *args: Any, task: AnnotationTask, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        keys = list(TaskStatus.objects.filter(task=task).order_by("position", "key").values_list("key", "label"))
        cast(forms.ChoiceField, self.fields["status"]).choices = [*keys, (CLEAR_STATUS, "No status (clear it)")]

    @property
    def chosen_status(self) -> str | None:
        value = self.cleaned_data["status"]
        return None if value == CLEAR_STATUS else value


class SkipPolicyForm(forms.Form):
    skip_allowed = forms.BooleanField(label="Skipping allowed", required=False)
    skip_reason_required = forms.BooleanField(label="A reason is required", required=False)
    skip_to = forms.ChoiceField(label="A skipped item goes", choices=SkipTo.choices)

    def __init__(self, *args: Any, task: AnnotationTask, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # "Back" is the queue in a pulling task; a distributed task has none, so there it gives the
        # item to someone else, as "other" does. Offer each task the choices that differ for it.
        field = cast(forms.ChoiceField, self.fields["skip_to"])
        if task.is_pulling:
            field.choices = [(SkipTo.BACK, "Back to the queue"), (SkipTo.OTHER, "To someone else")]
        else:
            field.choices = [(SkipTo.BACK, "To someone else")]
            if task.skip_to == SkipTo.OTHER:
                field.choices += [(SkipTo.OTHER, "To someone else (set as such)")]
        field.choices += [(SkipTo.MANAGER, SkipTo.MANAGER.label)]


class AdminBulkStatusForm(forms.Form):
    """The admin's "set bulk status" step: one status (or none) for the task item rows selected there,
    which may span tasks; the status must be one of every one of those tasks."""

    status = forms.ChoiceField(label="Status")

    def __init__(self, *args: Any, tasks: list[AnnotationTask], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.tasks = tasks
        self.keys_of: dict[int, set[str]] = {task.pk: set() for task in tasks}
        labels: dict[str, str] = {}
        for task_id, key, label in (
            TaskStatus.objects.filter(task__in=tasks)
            .order_by("position", "key")
            .values_list("task_id", "key", "label")
        ):
            self.keys_of[task_id].add(key)
            labels.setdefault(key, f"{label} ({key})" if label and label != key else key)
        field = cast(forms.ChoiceField, self.fields["status"])
        field.choices = [("", "Choose a status"), *labels.items(), (CLEAR_STATUS, "No status (clear it)")]

    def clean_status(self) -> str:
        value = self.cleaned_data["status"]
        if value != CLEAR_STATUS:
            lacking = [task.name for task in self.tasks if value not in self.keys_of[task.pk]]
            if lacking:
                raise ValidationError(f"“{value}” is not a status of: {', '.join(lacking)}. Nothing was changed.")
        return value

    @property
    def chosen_status(self) -> str | None:
        value = self.cleaned_data["status"]
        return None if value == CLEAR_STATUS else value


class AdminBulkPriorityForm(forms.Form):
    """The admin's "set item priority" step for the task item rows selected there."""

    priority = forms.IntegerField(label="Item priority (0 to 100, higher first)", min_value=0, max_value=100)


def _people_by_email(emails: list[str]) -> list:
    """The accounts of `emails`, in their order; an unknown one is a form error naming it."""
    found = {u.email.lower(): u for u in User.objects.filter(email__in=[e.lower() for e in emails])}
    unknown = [e for e in emails if e.lower() not in found]
    if unknown:
        raise ValidationError(f"No account with the email: {', '.join(unknown)}.")
    return [found[e.lower()] for e in emails]


class AdminReassignForm(forms.Form):
    """The admin's reassign step: the person who takes over the selected assignments' undone items."""

    to = forms.EmailField(label="Reassign to (email)")

    def clean_to(self):
        return _people_by_email([self.cleaned_data["to"]])[0]


class AdminRedistributeForm(forms.Form):
    """The admin's redistribute step: people, one a line, each with an optional share (equal without)."""

    people = forms.CharField(
        label="Spread over",
        widget=forms.Textarea(attrs={"rows": 4, "placeholder": "carol@example.com 50\ndave@example.com 50"}),
        help_text="One email a line, optionally followed by a share; shares add up to 100. Without shares the "
        "items are split equally.",
    )

    def clean_people(self) -> list[WorkloadUnit]:
        lines = [line.split() for line in self.cleaned_data["people"].splitlines() if line.strip()]
        if any(len(parts) > 2 for parts in lines):
            raise ValidationError("Each line is an email and, optionally, a share.")
        shared = [len(parts) == 2 for parts in lines]
        if any(shared) and not all(shared):
            raise ValidationError("Give a share on every line, or on none.")
        users = _people_by_email([parts[0] for parts in lines])
        if not all(shared):
            return [WorkloadUnit(user, load) for user, load in zip(users, equal_loads(len(users)), strict=True)]
        try:
            loads = [int(parts[1]) for parts in lines]
        except ValueError:
            raise ValidationError("A share is a whole number from 1 to 100.") from None
        return [WorkloadUnit(user, load) for user, load in zip(users, loads, strict=True)]
