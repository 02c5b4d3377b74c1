import csv
import datetime
import io

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from taskboard.annotation.models import AnnotationTask
from taskboard.projects.models import Role
from taskboard.work import flow
from tests.dashboards.conftest import held_items
from tests.factories import MembershipFactory, UserFactory

HX = {"HX-Request": "true"}


@pytest.fixture
def task(make_task, annotator, annotator2):
    return make_task(assignees=[annotator, annotator2])


def urls(task):
    return [
        reverse("dashboards:project", args=[task.project_id]),
        reverse("dashboards:people", args=[task.project_id]),
        reverse("dashboards:people-csv", args=[task.project_id]),
        reverse("dashboards:task", args=[task.pk]),
    ]


@pytest.mark.parametrize("who", ["owner", "manager"])
def test_managers_and_owners_see_every_dashboard(client, task, who, request):
    client.force_login(request.getfixturevalue(who))
    for url in urls(task):
        assert client.get(url).status_code == 200, url


@pytest.mark.parametrize("who", ["annotator", "reviewer", "other_manager"])
def test_everyone_else_gets_404(client, task, who, request):
    client.force_login(request.getfixturevalue(who))
    for url in urls(task):
        assert client.get(url).status_code == 404, url


def test_anonymous_is_sent_to_sign_in(client, task):
    response = client.get(reverse("dashboards:task", args=[task.pk]))
    assert response.status_code == 302 and "/accounts/" in response["Location"]


def test_task_dashboard_shows_counts_and_polls_while_open(client, manager, task, annotator):
    for item in held_items(task, annotator)[:3]:
        flow.item_status_set(task=task, item=item, status="completed", by=annotator)
    client.force_login(manager)
    page = client.get(reverse("dashboards:task", args=[task.pk])).content.decode()
    assert '<span id="done-count">3</span> / <span id="total-count">18</span>' in page
    assert 'hx-trigger="every 5s"' in page and "<svg" in page and "<details" in page
    assert "<html" in page

    fragment = client.get(reverse("dashboards:task", args=[task.pk]), headers=HX).content.decode()
    assert "<html" not in fragment and fragment.lstrip().startswith('<section id="task-live"')
    assert 'hx-trigger="every 5s"' in fragment
    assert 'id="status-completed">3<' in fragment and 'id="status-todo">15<' in fragment


def test_polling_stops_when_every_item_is_done(client, manager, task, annotator, annotator2):
    for user in (annotator, annotator2):
        for item in held_items(task, user):
            flow.item_status_set(task=task, item=item, status="completed", by=user)
    client.force_login(manager)
    fragment = client.get(reverse("dashboards:task", args=[task.pk]), headers=HX).content.decode()
    assert "hx-trigger" not in fragment and 'data-polling="off"' in fragment
    assert '<span id="done-count">18</span>' in fragment


def test_task_dashboard_query_count_does_not_grow_with_items(client, manager, make_task, annotator, annotator2):
    small = make_task("small", assignees=[annotator], folder="/highway")
    big = make_task("big", assignees=[annotator, annotator2], folder="/")
    for t in (small, big):
        for item in held_items(t, annotator)[:2]:
            flow.item_status_set(task=t, item=item, status="completed", by=annotator)
    client.force_login(manager)
    counts = []
    for t in (small, big):
        with CaptureQueriesContext(connection) as ctx:
            assert client.get(reverse("dashboards:task", args=[t.pk]), headers=HX).status_code == 200
        counts.append(len(ctx))
        assert not any("annotation_taskitem" in q["sql"] for q in ctx.captured_queries)
    assert counts[0] == counts[1]


def test_project_dashboard_puts_trouble_first(client, manager, make_task, annotator):
    calm = make_task("calm", assignees=[annotator], folder="/highway", due_days=30)
    late = make_task("late", assignees=[annotator], folder="/city/night", due_days=1)
    AnnotationTask.objects.filter(pk=late.pk).update(due_at=timezone.now() - datetime.timedelta(hours=1))
    client.force_login(manager)
    page = client.get(reverse("dashboards:project", args=[calm.project_id])).content.decode()
    assert page.index(">late<") < page.index(">calm<")
    assert 'data-state="overdue"' in page


def test_people_csv_cannot_run_formulas(client, project, manager, make_task, annotator):
    sneaky = UserFactory(email="=1+1@example.com")
    MembershipFactory(project=project, user=sneaky, role=Role.ANNOTATOR)
    task = make_task(assignees=[annotator, sneaky])
    item = held_items(task, sneaky)[0]
    flow.item_status_set(task=task, item=item, status="completed", by=sneaky)
    client.force_login(manager)
    response = client.get(reverse("dashboards:people-csv", args=[project.pk]))
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows[0][0] == "email"
    by_email = {r[0]: r for r in rows[1:]}
    assert "'=1+1@example.com" in by_email and "=1+1@example.com" not in by_email
    assert by_email["'=1+1@example.com"][2] == "1"


def test_people_page_lists_annotators(client, manager, task, annotator):
    flow.item_status_set(task=task, item=held_items(task, annotator)[0], status="completed", by=annotator)
    client.force_login(manager)
    page = client.get(reverse("dashboards:people", args=[task.project_id])).content.decode()
    assert "bob@example.com" in page and "carol@example.com" in page


def test_active_time_per_item_comes_from_the_work_views_heartbeats(client, manager, task, annotator):
    from taskboard.annotation.models import TaskItem
    from taskboard.work import services as work

    one, two = held_items(task, annotator)[:2]
    rows = {r.item_id: r for r in TaskItem.objects.filter(task=task, item__in=[one, two]).select_related("assignment")}
    t0 = timezone.now()
    # Signs of activity at 0 and 30 s on the first item, 60 and 80 s on the second: 30 s and 50 s.
    for item, at in ((one, 0), (one, 30), (two, 60), (two, 80)):
        work.item_time_beat(
            task_item=rows[item.pk], by=annotator, marks_ago_ms=[0], now=t0 + datetime.timedelta(seconds=at)
        )
    for item in (one, two):
        flow.item_status_set(task=task, item=item, status="completed", by=annotator)
    client.force_login(manager)
    page = client.get(reverse("dashboards:task", args=[task.pk])).content.decode()
    assert ">40 s<" in page
    people = client.get(reverse("dashboards:people", args=[task.project_id])).content.decode()
    assert ">40 s<" in people


def test_project_table_polls_while_work_is_left_and_stops_after(client, manager, task, annotator, annotator2):
    client.force_login(manager)
    url = reverse("dashboards:project", args=[task.project_id])
    fragment = client.get(url, headers=HX).content.decode()
    assert fragment.lstrip().startswith('<div id="project-tasks"') and 'hx-trigger="every 5s"' in fragment
    for user in (annotator, annotator2):
        for item in held_items(task, user):
            flow.item_status_set(task=task, item=item, status="completed", by=user)
    fragment = client.get(url, headers=HX).content.decode()
    assert "hx-trigger" not in fragment and "18 / 18" in fragment


def test_a_poll_for_a_task_that_is_gone_stops_polling(client, manager, other_manager, task):
    url = reverse("dashboards:task", args=[task.pk])
    client.force_login(other_manager)
    assert client.get(url, headers=HX).status_code == 286  # not 404 every five seconds
    assert client.get(url).status_code == 404  # a page load still answers 404
    client.force_login(manager)
    task_id = task.pk
    from taskboard.annotation.models import AnnotationTask, TaskItem

    TaskItem.objects.filter(task_id=task_id).delete()
    AnnotationTask.objects.filter(pk=task_id).delete()
    assert client.get(url, headers=HX).status_code == 286


def test_a_poll_after_sign_out_sends_the_page_to_sign_in(client, task):
    url = reverse("dashboards:task", args=[task.pk])
    response = client.get(url, headers={**HX, "HX-Current-URL": f"http://testserver{url}"})
    assert response.status_code == 200
    assert response["HX-Redirect"].startswith("/accounts/") and "next=" in response["HX-Redirect"]


def test_project_tasks_sort_overdue_then_at_risk_then_on_track_then_finished(make_task, annotator, project):
    from taskboard.dashboards import queries

    make_task("fresh", assignees=[annotator], folder="/highway", due_days=9)
    stalled = make_task("stalled", assignees=[annotator], folder="/city/night", due_days=8)
    late = make_task("late", assignees=[annotator], folder="/city/day", due_days=7)
    done = make_task("done", assignees=[annotator], folder="/city/day", due_days=1)
    AnnotationTask.objects.filter(pk=stalled.pk).update(created_at=timezone.now() - datetime.timedelta(days=3))
    AnnotationTask.objects.filter(pk=late.pk).update(due_at=timezone.now() - datetime.timedelta(minutes=5))
    for item in held_items(done, annotator):
        flow.item_status_set(task=done, item=item, status="completed", by=annotator)
    order = [(s.task.name, s.forecast.state) for s in queries.project_tasks(project)]
    assert order == [("late", "overdue"), ("stalled", "at_risk"), ("fresh", "on_track"), ("done", "done")]
