"""The task to make: one typed, frozen value, and every rule of task creation, once.

The wizard, the API and pipeline nodes each build a `TaskSpec`; `TaskSpec.check` applies every rule
and answers messages by field (a `ValidationError` of them all, or a `CheckedSpec` with the rows
resolved); `CheckedSpec.plan()` says what creation will write, per assignee, and creation writes
exactly that: the wizard's preview is that plan. A spec round-trips through JSON for jobs.

The rules that forms also need while a person types (a batch size, a due date, a name) are plain
functions here, so a form, the API and a pipeline node refuse the same value with the same words.
docs/tasks.md states the rules in prose.
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from taskboard.accounts.models import User
from taskboard.annotation.models import (
    BATCH_SIZE_MAX,
    BATCH_SIZE_MIN,
    DEFAULT_ANNOTATION_STATUSES,
    DEFAULT_QA_STATUSES,
    AnnotationTask,
    TaskItem,
    TaskType,
)
from taskboard.annotation.selection import Selection, select_items
from taskboard.annotation.workload import UNKNOWN_PERSON, WorkloadUnit, equal_loads, split_counts, workload_build
from taskboard.datasets.models import Dataset, Item, Recipe
from taskboard.inputs import MAX_WHOLE, text_problem
from taskboard.projects.access import role_of
from taskboard.projects.models import Project

NAME_MAX = 200
DESCRIPTION_MAX = 10_000
METADATA_MAX_BYTES = 64 * 1024
STATUSES_MAX = 50
STATUS_KEY_MAX = 50
STATUS_LABEL_MAX = 100
DEFAULT_STATUS_COLOR = "#607d8b"
LIMIT_MESSAGE = f"The limit is a whole number from 1 to {MAX_WHOLE:,}."
PRIORITY_MESSAGE = "Priority is 1 (low), 2 (medium) or 3 (high)."


# --------------------------------------------------------------------------- the rules, one by one


def _is_whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def name_problem(
    name: Any, *, project: Project, idempotency_key: str | None = None, renaming: AnnotationTask | None = None
) -> str | None:
    """`renaming`: the task being renamed, whose own name is not a clash."""
    if not isinstance(name, str) or not name.strip():
        return "Give the task a name."
    name = name.strip()
    if len(name) > NAME_MAX:
        return f"At most {NAME_MAX} characters."
    problem = text_problem(name)
    if problem:
        return problem
    existing = AnnotationTask.objects.filter(project=project, name=name)
    if renaming is not None:
        existing = existing.exclude(pk=renaming.pk)
    taken = list(existing.values_list("idempotency_key", flat=True)[:1])
    if taken and not (idempotency_key and taken[0] == idempotency_key):
        return f"A task named “{name}” already exists in this project."
    return None


def due_problem(due_at: Any) -> str | None:
    if not isinstance(due_at, datetime.datetime):
        return "Enter a valid date and time."
    if timezone.is_naive(due_at):
        return "The due date needs a time zone."
    if due_at <= timezone.now():
        return "The due date must be in the future."
    return None


def priority_problem(priority: Any) -> str | None:
    return None if _is_whole(priority) and 1 <= priority <= 3 else PRIORITY_MESSAGE


def description_problem(description: Any) -> str | None:
    if not isinstance(description, str):
        return "The description is text."
    if len(description) > DESCRIPTION_MAX:
        return f"At most {DESCRIPTION_MAX:,} characters."
    return text_problem(description)


def metadata_problem(metadata: Any) -> str | None:
    if not isinstance(metadata, Mapping):
        return "Metadata must be a JSON object."
    try:
        size = len(json.dumps(metadata, allow_nan=False).encode())
    except (TypeError, ValueError):
        return "Metadata must be plain JSON (no NaN or Infinity)."
    if size > METADATA_MAX_BYTES:
        return f"Metadata is at most {METADATA_MAX_BYTES // 1024} KiB as JSON."
    return None


def limit_problem(limit: Any) -> str | None:
    return None if limit is None or (_is_whole(limit) and 1 <= limit <= MAX_WHOLE) else LIMIT_MESSAGE


def pulling_problems(batch_size: Any, max_batch_workload: Any) -> dict[str, str]:
    """DESIGN: batch_size 3 to 100; max_batch_workload from batch_size + 2 to 2 × batch_size."""
    problems: dict[str, str] = {}
    if batch_size is None:
        problems["batch_size"] = "Pulling needs a batch size."
    elif not _is_whole(batch_size) or not BATCH_SIZE_MIN <= batch_size <= BATCH_SIZE_MAX:
        problems["batch_size"] = f"Batch size is from {BATCH_SIZE_MIN} to {BATCH_SIZE_MAX}."
    if max_batch_workload is None:
        problems["max_batch_workload"] = "Pulling needs a maximum batch workload."
    elif "batch_size" not in problems and (
        not _is_whole(max_batch_workload) or not batch_size + 2 <= max_batch_workload <= 2 * batch_size
    ):
        problems["max_batch_workload"] = (
            f"Maximum batch workload is from {batch_size + 2} to {2 * batch_size} for a batch of {batch_size}."
        )
    return problems


def consensus_problems(percentage: Any, assignees: Any, *, people: int | None) -> dict[str, str]:
    """`percentage` 0 to 100 of the items; each goes to `assignees` different people, 2 up to `people`."""
    problems: dict[str, str] = {}
    if percentage is None:
        problems["consensus_percentage"] = "Give the share of items that get consensus."
    elif not _is_whole(percentage) or not 0 <= percentage <= 100:
        problems["consensus_percentage"] = "A percentage from 0 to 100."
    if assignees is None:
        problems["consensus_assignees"] = "Give how many people annotate each consensus item."
    elif not _is_whole(assignees) or assignees < 2:
        problems["consensus_assignees"] = "At least 2 people label a consensus item."
    elif people is not None and assignees > people:
        problems["consensus_assignees"] = f"From 2 to the number of assignees ({people})."
    return problems


@dataclass(frozen=True, kw_only=True)
class StatusDef:
    """A status an item can have in a task."""

    key: str
    label: str
    color: str = DEFAULT_STATUS_COLOR
    is_done: bool = True

    def to_json(self) -> dict[str, Any]:
        return {"key": self.key, "label": self.label, "color": self.color, "is_done": self.is_done}


def default_statuses(task_type: str) -> tuple[StatusDef, ...]:
    defaults = DEFAULT_QA_STATUSES if task_type == TaskType.QA else DEFAULT_ANNOTATION_STATUSES
    return tuple(StatusDef(key=k, label=label, color=c, is_done=d) for k, label, c, d in defaults)


def statuses_from(raw: Any, *, not_done: frozenset[str] = frozenset()) -> tuple[StatusDef, ...]:
    """A task's own statuses from what a person or a client sent: a list of {key, label, color, is_done}
    (or of bare keys). Raises ValidationError({"statuses": …}). `not_done` names keys that default to
    not counting as done (a pipeline's "rework")."""
    if not isinstance(raw, list | tuple):
        raise ValidationError({"statuses": "Statuses are a list."})
    if not raw:
        raise ValidationError({"statuses": "A task needs at least one status."})
    if len(raw) > STATUSES_MAX:
        raise ValidationError({"statuses": f"A task has at most {STATUSES_MAX} statuses."})
    result: list[StatusDef] = []
    seen: set[str] = set()
    for entry in raw:
        if isinstance(entry, StatusDef):
            entry = entry.to_json()
        data = entry if isinstance(entry, Mapping) else {"key": entry}
        key = data.get("key")
        if not isinstance(key, str) or not key.strip():
            raise ValidationError({"statuses": "Every status needs a name."})
        key = key.strip()
        if len(key) > STATUS_KEY_MAX:
            raise ValidationError({"statuses": f"Status “{key[:20]}…” is longer than {STATUS_KEY_MAX} characters."})
        problem = text_problem(key)
        if problem:
            raise ValidationError({"statuses": problem})
        if key in seen:
            raise ValidationError({"statuses": f"Status “{key}” is listed twice."})
        seen.add(key)
        label = data.get("label")
        label = key if label in (None, "") else label
        if not isinstance(label, str) or len(label) > STATUS_LABEL_MAX or text_problem(label):
            raise ValidationError({"statuses": f"A status label is text of at most {STATUS_LABEL_MAX} characters."})
        color = data.get("color")
        color = DEFAULT_STATUS_COLOR if color in (None, "") else color
        if not isinstance(color, str):
            raise ValidationError({"statuses": "A status colour is a string such as #607d8b."})
        color = color[:7] if _is_hex_color(color[:7]) else DEFAULT_STATUS_COLOR
        is_done = data.get("is_done", key not in not_done)
        result.append(StatusDef(key=key, label=label, color=color, is_done=bool(is_done)))
    return tuple(result)


def _is_hex_color(text: str) -> bool:
    return len(text) == 7 and text[0] == "#" and all(c in "0123456789abcdefABCDEF" for c in text[1:])


def selected_items(
    *, dataset: Dataset, selection: Selection | None, parent: AnnotationTask | None = None
) -> QuerySet[Item]:
    """The items a task made from `selection` starts with (unordered): the dataset's items it names
    (None: all of them); for a QA task over `parent`, those of the parent's items that have a status there."""
    items = select_items(dataset=dataset, selection=selection or Selection(mode="all"))
    if parent is not None:
        items = items.filter(id__in=TaskItem.objects.filter(task=parent, status__isnull=False).values("item_id"))
    return items


# --------------------------------------------------------------------------- the value


@dataclass(frozen=True, kw_only=True)
class Load:
    """A person and their share (1 to 100) of a task's items."""

    user_id: int
    share: int


def equal_people(user_ids: Iterable[int]) -> tuple[Load, ...]:
    """Everyone an equal share: dtlpy's loads (3 people: 34/33/33), and an even split of the items."""
    ids = list(user_ids)
    return tuple(Load(user_id=u, share=s) for u, s in zip(ids, equal_loads(len(ids)), strict=True))


@dataclass(frozen=True, kw_only=True)
class Pulling:
    batch_size: Any
    max_batch_workload: Any


@dataclass(frozen=True, kw_only=True)
class Consensus:
    percentage: Any
    assignees: Any


@dataclass(frozen=True, kw_only=True)
class TaskSpec:
    """What task to make.

    `selection` None means every item of the dataset; for a QA task it means every item of the parent
    that has a status (a selection narrows that). `empty` makes the task with no items whatever the
    selection: a pipeline node's task, which routing fills. Values come as their senders gave them;
    `check` says what is wrong with them."""

    dataset_id: int
    due_at: Any
    name: Any = ""
    type: str = TaskType.ANNOTATION
    parent_id: int | None = None
    selection: Selection | None = None
    query: Any = field(default=None, hash=False)
    limit: Any = None
    people: tuple[Load, ...] = ()
    pulling: Pulling | None = None
    consensus: Consensus | None = None
    priority: Any = 2
    recipe_id: int | None = None
    owner_id: int | None = None
    statuses: tuple[StatusDef, ...] | None = None
    qa_intake: bool = True
    lock_after_due: bool = False
    description: Any = ""
    metadata: Any = field(default_factory=dict, hash=False)
    idempotency_key: str | None = None
    empty: bool = False

    @property
    def allocation(self) -> str:
        return "pulling" if self.pulling is not None else "distribution"

    @property
    def people_field(self) -> str:
        return "allowed_assignees" if self.pulling is not None else "assignees"

    # ----------------------------------------------------------------------- JSON, for jobs

    def to_json(self) -> dict[str, Any]:
        return {
            "dataset_id": self.dataset_id,
            "due_at": self.due_at.isoformat() if isinstance(self.due_at, datetime.datetime) else self.due_at,
            "name": self.name,
            "type": self.type,
            "parent_id": self.parent_id,
            "selection": self.selection.to_json() if self.selection is not None else None,
            "query": self.query,
            "limit": self.limit,
            "people": [[load.user_id, load.share] for load in self.people],
            "pulling": [self.pulling.batch_size, self.pulling.max_batch_workload] if self.pulling else None,
            "consensus": [self.consensus.percentage, self.consensus.assignees] if self.consensus else None,
            "priority": self.priority,
            "recipe_id": self.recipe_id,
            "owner_id": self.owner_id,
            "statuses": [s.to_json() for s in self.statuses] if self.statuses is not None else None,
            "qa_intake": self.qa_intake,
            "lock_after_due": self.lock_after_due,
            "description": self.description,
            "metadata": self.metadata,
            "idempotency_key": self.idempotency_key,
            "empty": self.empty,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> TaskSpec:
        due = data["due_at"]
        return cls(
            dataset_id=data["dataset_id"],
            due_at=parse_datetime(due) if isinstance(due, str) else due,
            name=data.get("name", ""),
            type=data.get("type", TaskType.ANNOTATION),
            parent_id=data.get("parent_id"),
            selection=Selection.from_json(data["selection"]) if data.get("selection") is not None else None,
            query=data.get("query"),
            limit=data.get("limit"),
            people=tuple(Load(user_id=u, share=s) for u, s in data.get("people") or ()),
            pulling=Pulling(batch_size=data["pulling"][0], max_batch_workload=data["pulling"][1])
            if data.get("pulling")
            else None,
            consensus=Consensus(percentage=data["consensus"][0], assignees=data["consensus"][1])
            if data.get("consensus")
            else None,
            priority=data.get("priority", 2),
            recipe_id=data.get("recipe_id"),
            owner_id=data.get("owner_id"),
            statuses=tuple(StatusDef(**s) for s in data["statuses"]) if data.get("statuses") is not None else None,
            qa_intake=data.get("qa_intake", True),
            lock_after_due=data.get("lock_after_due", False),
            description=data.get("description", ""),
            metadata=data.get("metadata") or {},
            idempotency_key=data.get("idempotency_key"),
            empty=data.get("empty", False),
        )

    # ----------------------------------------------------------------------- every rule

    def check(self, *, by: User) -> CheckedSpec:
        """Apply every rule of task creation without writing. Raises ValidationError with a message per
        field (all of them at once); returns the spec with its rows resolved and its items counted."""
        errors: dict[str, str] = {}
        dataset = Dataset.objects.select_related("project").filter(pk=self.dataset_id).first()
        if dataset is None:
            raise ValidationError({"dataset": "No such dataset."})
        project = dataset.project

        is_qa = self.type == TaskType.QA
        parent = None
        if self.type not in TaskType.values:
            errors["task_type"] = "Choose annotation or QA."
        elif is_qa:
            parent = AnnotationTask.objects.filter(pk=self.parent_id).first() if self.parent_id else None
            if self.parent_id is None:
                errors["parent"] = "A QA task is made from an annotation task."
            elif parent is None or parent.type != TaskType.ANNOTATION or parent.dataset_id != dataset.pk:
                errors["parent"] = "The parent must be an annotation task of the same project and dataset."
                parent = None

        name = self.name.strip() if isinstance(self.name, str) else self.name
        if not name and is_qa and parent is not None:
            name = f"{parent.name}_qa"[:NAME_MAX]
        problem = name_problem(name, project=project, idempotency_key=self.idempotency_key)
        if problem:
            errors["name"] = problem
        for key, problem in (
            ("due_at", due_problem(self.due_at)),
            ("priority", priority_problem(self.priority)),
            ("description", description_problem(self.description)),
            ("metadata", metadata_problem(self.metadata)),
            ("limit", limit_problem(self.limit)),
        ):
            if problem:
                errors[key] = problem

        recipe = None
        if self.recipe_id is not None:
            recipe = Recipe.objects.filter(pk=self.recipe_id).first()
            if recipe is None or recipe.dataset_id != dataset.pk:
                errors["recipe"] = "The recipe belongs to another dataset."
        else:
            recipe = parent.recipe if parent is not None else dataset.default_recipe
            if recipe is None:
                errors["recipe"] = "This dataset has no default recipe; choose one."

        users = get_user_model().objects.in_bulk([load.user_id for load in self.people] + [self.owner_id or 0])
        owner = users.get(self.owner_id) if self.owner_id is not None else None
        if self.owner_id is None:
            owner = parent.created_by if parent is not None else by
        if owner is None or role_of(owner, project) is None:
            errors["owner"] = "The owner must be a member of the project."

        if self.pulling is not None:
            errors.update(pulling_problems(self.pulling.batch_size, self.pulling.max_batch_workload))
        workload: list[WorkloadUnit] = []
        try:
            if any(load.user_id not in users for load in self.people):
                raise ValidationError({self.people_field: UNKNOWN_PERSON})
            workload = workload_build(
                project=project,
                workload=[WorkloadUnit(users[load.user_id], load.share) for load in self.people],
                assignees=None,
                field=self.people_field,
            )
        except ValidationError as e:
            for key, messages in e.message_dict.items():
                errors[self.people_field if key == "workload" and self.pulling else key] = messages[0]

        if self.consensus is not None:
            if self.pulling is not None:
                errors["consensus_percentage"] = "Consensus cannot be combined with pulling."
            elif is_qa:
                errors["consensus_percentage"] = "QA tasks have no consensus."
            else:
                people = len(workload) if workload else None
                errors.update(consensus_problems(self.consensus.percentage, self.consensus.assignees, people=people))

        statuses = default_statuses(self.type)
        if self.statuses is not None:
            try:
                statuses = statuses_from(list(self.statuses))
            except ValidationError as e:
                errors["statuses"] = e.message_dict["statuses"][0]

        items, total = None, 0
        if not self.empty and "selection" not in errors:
            try:
                qs = selected_items(dataset=dataset, selection=self.selection, parent=parent if is_qa else None)
                # A refused limit is not run: past a bigint it is an error of the database, not an answer.
                limit = self.limit if "limit" not in errors else None
                items = qs.order_by("dir", "name", "id")[:limit] if limit else qs.order_by()
                total = items.count()
                if total == 0 and not is_qa:
                    errors["selection"] = "No items match this selection."
            except ValidationError as e:
                errors["selection"] = next(iter(e.message_dict.values()))[0]
        if errors:
            raise ValidationError(errors)
        # Every way of leaving these unset has named its field above.
        assert recipe is not None and owner is not None
        return CheckedSpec(
            spec=self,
            dataset=dataset,
            parent=parent,
            name=name,
            recipe=recipe,
            owner=owner,
            created_by=by,
            workload=workload,
            statuses=statuses,
            items=items,
            total=total,
        )


# --------------------------------------------------------------------------- checked, and its plan


@dataclass(frozen=True)
class PlannedShare:
    user: User
    share: int
    items: int  # what creation hands this person (pulling: their first batch)


@dataclass(frozen=True)
class Plan:
    """What creation writes: per person, their items; pulling keeps the rest queued; consensus makes
    `originals` consensus items, each copied to `per_item` people."""

    total: int
    shares: tuple[PlannedShare, ...]
    queued: int = 0
    originals: int = 0
    per_item: int = 0

    @property
    def copies(self) -> int:
        return self.originals * self.per_item


def consensus_counts(*, total: int, percentage: int, per_item: int, loads: list[int]) -> tuple[int, list[int]]:
    """(consensus items, items per person) of a consensus task: `percentage` of the items rounded down
    are copied to `per_item` people each, copy j of the c-th one going to person (c - 1 + j - 1) mod n;
    the other items are split by the loads. Creation places its rows by this rule."""
    n = len(loads)
    chosen = total * percentage // 100
    counts = split_counts(total - chosen, loads)
    base, extra = divmod(chosen, n)
    for i in range(n):
        counts[i] += sum(base + (1 if (i - (j - 1)) % n < extra else 0) for j in range(1, per_item + 1))
    return chosen, counts


@dataclass(frozen=True)
class CheckedSpec:
    spec: TaskSpec
    dataset: Dataset
    parent: AnnotationTask | None
    name: str
    recipe: Recipe
    owner: User
    created_by: User
    workload: list[WorkloadUnit]
    statuses: tuple[StatusDef, ...]
    items: QuerySet[Item] | None  # the selected items, ordered when a limit needs the order
    total: int

    @property
    def project(self) -> Project:
        return self.dataset.project

    def plan(self) -> Plan:
        users = [unit.user for unit in self.workload]
        loads = [unit.load for unit in self.workload]
        spec, total = self.spec, self.total
        if spec.pulling is not None:
            batch = spec.pulling.batch_size
            # Each allowed person claims a first batch, in order, while the queue lasts.
            counts = [min(batch, max(total - batch * i, 0)) for i in range(len(users))]
            return Plan(
                total=total,
                shares=tuple(PlannedShare(u, s, c) for u, s, c in zip(users, loads, counts, strict=True)),
                queued=total - sum(counts),
            )
        if spec.consensus is not None:
            chosen, counts = consensus_counts(
                total=total, percentage=spec.consensus.percentage, per_item=spec.consensus.assignees, loads=loads
            )
            return Plan(
                total=total,
                shares=tuple(PlannedShare(u, s, c) for u, s, c in zip(users, loads, counts, strict=True)),
                originals=chosen,
                per_item=spec.consensus.assignees,
            )
        counts = split_counts(total, loads)
        return Plan(
            total=total, shares=tuple(PlannedShare(u, s, c) for u, s, c in zip(users, loads, counts, strict=True))
        )
