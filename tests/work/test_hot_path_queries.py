"""The queries each hot path of the annotation loop costs, pinned: the numbers a team's load lives on.

Counted as production runs them: in a transaction of their own (not inside the test's, which would
turn every transaction into a savepoint) and with sessions read through the cache, as they are when
Redis is configured. What remains is the signed-in user and the page's own reads and writes.
Budgets (docs/architecture.md): work item ≤ 8, set status ≤ 10, task progress poll ≤ 5.
"""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from taskboard.annotation.models import Assignment, AssignmentKind, TaskItem
from taskboard.annotation.selection import Selection
from tests.factories import create_task, make_items

pytestmark = pytest.mark.django_db(transaction=True)

WORK_ITEM, SET_STATUS, PROGRESS_POLL = 8, 10, 5


@pytest.fixture(autouse=True)
def sessions_through_the_cache(settings):
    settings.SESSION_ENGINE = "django.contrib.sessions.backends.cached_db"


@pytest.fixture
def loop(dataset, recipe, manager, annotator, annotator2):
    make_items(dataset, {"/pull": 40, "/split": 20})
    common = {"created_by": manager, "dataset": dataset, "recipe": recipe, "assignees": [annotator, annotator2]}
    pulling = create_task(
        name="Pull",
        selection=Selection(mode="folder", folder="/pull"),
        allocation="pulling",
        batch_size=5,
        max_batch_workload=10,
        **common,
    )
    split = create_task(name="Split", selection=Selection(mode="folder", folder="/split"), **common)
    return {"pull": pulling, "split": split}


def _mine(task, user) -> Assignment:
    return Assignment.objects.filter(task=task, assignee=user).exclude(kind=AssignmentKind.QUEUE).get()


def _queries(client, method, url, *args, **kwargs):
    # Inside a transaction the request's own would be a savepoint, and the count would change with it.
    assert not connection.in_atomic_block, "the test's connection is already inside a transaction"
    with CaptureQueriesContext(connection) as run:
        response = getattr(client, method)(url, *args, **kwargs)
    # SQLite's BEGIN and COMMIT pass through the cursor; PostgreSQL's do not. Neither is a read or a write.
    return response, [q["sql"] for q in run.captured_queries if q["sql"] not in ("BEGIN IMMEDIATE", "BEGIN", "COMMIT")]


def _item_url(task_item: TaskItem) -> str:
    return reverse("work:item", args=[task_item.assignment_id, task_item.pk])


@pytest.mark.parametrize("kind", ["pull", "split"])
def test_the_work_item_reads_each_row_once(client, loop, annotator, kind):
    mine = _mine(loop[kind], annotator)
    client.force_login(annotator)
    opened = client.get(reverse("work:assignment", args=[mine.pk]))
    client.get(opened.url)  # the steady state: the bell's count is cached by the first page
    response, queries = _queries(client, "get", opened.url)
    assert response.status_code == 200
    assert len(queries) == 8 <= WORK_ITEM, "\n".join(queries)


@pytest.mark.parametrize(("kind", "expected"), [("pull", 10), ("split", 8)])
def test_setting_a_status_stays_within_its_budget(client, loop, annotator, kind, expected):
    """For pulling, the second status: the first one brought a batch (a claim is a write of its own);
    from then on the refill rule is checked in the one statement that would claim."""
    mine = _mine(loop[kind], annotator)
    client.force_login(annotator)
    first = client.get(reverse("work:assignment", args=[mine.pk])).url
    following = client.post(first + "status/", {"status": "completed"}).url
    claimed_before = Assignment.objects.get(pk=mine.pk).claimed_count
    response, queries = _queries(client, "post", following + "status/", {"status": "completed"})
    assert response.status_code == 302 and response.url != following
    assert Assignment.objects.get(pk=mine.pk).claimed_count == claimed_before  # no claim in this one
    assert len(queries) == expected <= SET_STATUS, "\n".join(queries)
    assert TaskItem.objects.filter(assignment=mine, status="completed").count() == 2


@pytest.mark.parametrize("kind", ["pull", "split"])
def test_the_progress_poll_reads_progress_once(client, loop, manager, kind):
    client.force_login(manager)
    url = reverse("dashboards:task-detail", args=[loop[kind].pk]) + "?part=progress"
    client.get(url, headers={"HX-Request": "true"})
    response, queries = _queries(client, "get", url, headers={"HX-Request": "true"})
    assert response.status_code == 200 and b"progress" in response.content
    assert len(queries) == 5 <= PROGRESS_POLL, "\n".join(queries)
