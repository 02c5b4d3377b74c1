import pytest

from taskboard.annotation.selection import Selection
from tests.factories import create_task, in_days, make_items


@pytest.fixture
def items(dataset):
    return make_items(dataset, {"/city/day": 12, "/city/night": 6, "/highway": 6})


@pytest.fixture
def make_task(dataset, recipe, manager, items):
    def _make(name="Cars", *, assignees, folder="/city", due_days=3, **kwargs):
        return create_task(
            dataset=dataset,
            created_by=manager,
            name=name,
            selection=Selection(mode="folder", folder=folder),
            assignees=assignees,
            due_at=in_days(due_days),
            recipe=recipe,
            **kwargs,
        )

    return _make


def held(task, user):
    """`user`'s task items in `task`, in order, with what the services need loaded."""
    from taskboard.annotation.models import TaskItem

    return list(
        TaskItem.objects.filter(task=task, assignment__assignee=user)
        .select_related("item", "assignment", "task")
        .order_by("rank")
    )
