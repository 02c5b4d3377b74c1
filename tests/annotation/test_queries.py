import pytest
from django.http import Http404

from taskboard.annotation import queries, services
from taskboard.datasets.selection import Selection
from tests.factories import in_days


@pytest.fixture
def task(dataset, items, manager, annotator):
    return services.task_create(
        dataset=dataset,
        created_by=manager,
        name="t",
        due_at=in_days(3),
        selection=Selection(mode="all"),
        assignees=[annotator],
    )


def test_managers_see_their_projects_tasks_and_holders_their_own(task, manager, annotator, annotator2, other_manager):
    assert list(queries.tasks_for_user(user=manager)) == [task]
    assert list(queries.tasks_for_user(user=annotator)) == [task]
    assert not queries.tasks_for_user(user=annotator2).exists()
    with pytest.raises(Http404):
        queries.task_get_for_user(user=other_manager, pk=task.pk)
    with pytest.raises(Http404):
        queries.task_get_for_manager(user=annotator, pk=task.pk)
    assert queries.task_get_for_manager(user=manager, pk=task.pk) == task


def test_assignment_items_are_keyset_paginated(task, annotator):
    (assignment,) = queries.assignments_for_user(user=annotator)
    first = list(queries.assignment_items(assignment=assignment, limit=10))
    second = list(queries.assignment_items(assignment=assignment, after_rank=first[-1].rank, limit=10))
    assert [r.rank for r in first + second] == list(range(1, 21))
