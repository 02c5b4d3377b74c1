import pytest
from django.urls import reverse

from taskboard.annotation import progress
from taskboard.annotation.models import Assignment
from taskboard.annotation.selection import Selection
from taskboard.datasets import queries as dataset_queries
from taskboard.projects import queries
from taskboard.work import flow
from tests.factories import create_task, in_days, make_items


@pytest.fixture
def items(dataset, recipe):
    return make_items(dataset, {"/city/day": 10, "/highway": 5})


@pytest.fixture
def task(dataset, items, manager, annotator, annotator2):
    return create_task(
        dataset=dataset,
        created_by=manager,
        name="Day shift",
        selection=Selection(mode="folder", folder="/city/day"),
        assignees=[annotator, annotator2],
        due_at=in_days(7),
    )


def test_home_requires_sign_in(client, db):
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("accounts:login"))


def test_home_lists_only_my_projects(client, manager, other_manager, project):
    client.force_login(manager)
    response = client.get(reverse("dashboards:home"))
    assert response.status_code == 200
    assert b"Street" in response.content
    assert b"Elsewhere" not in response.content


def test_home_shows_an_annotators_own_assignments_and_my_work(client, task, annotator, annotator2):
    client.force_login(annotator)
    response = client.get("/")
    body = response.content.decode()
    assert "My work" in body and 'href="/work/"' in body
    assert "Day shift" in body
    mine = Assignment.objects.get(task=task, assignee=annotator)
    theirs = Assignment.objects.get(task=task, assignee=annotator2)
    assert f"/work/assignments/{mine.pk}/" in body
    assert f"/work/assignments/{theirs.pk}/" not in body


def test_project_page_shows_datasets_tasks_and_progress(client, manager, project, dataset, task, annotator):
    a = Assignment.objects.get(task=task, assignee=annotator)
    item = a.task_items.order_by("rank").first().item
    flow.item_status_set(task=task, item=item, status="completed", by=annotator)
    client.force_login(manager)
    response = client.get(reverse("dashboards:project-detail", args=[project.pk]))
    body = response.content.decode()
    assert response.status_code == 200
    assert "street-scenes" in body and f'href="/datasets/{dataset.pk}/"' in body
    assert "Day shift" in body and "1 / 10 (10%)" in body
    assert f"/dashboards/projects/{project.pk}/" in body
    assert f"/tasks/new/?dataset={dataset.pk}" in body


def test_project_page_marks_overdue_tasks(client, manager, project, task):
    type(task).objects.filter(pk=task.pk).update(due_at=in_days(-1))
    client.force_login(manager)
    body = client.get(reverse("dashboards:project-detail", args=[project.pk])).content.decode()
    assert "Overdue" in body


def test_project_page_shows_an_annotator_only_their_tasks_without_manager_links(
    client, annotator, annotator3, project, dataset, task
):
    client.force_login(annotator3)
    body = client.get(reverse("dashboards:project-detail", args=[project.pk])).content.decode()
    assert "Day shift" not in body
    assert "/tasks/new/" not in body
    client.force_login(annotator)
    body = client.get(reverse("dashboards:project-detail", args=[project.pk])).content.decode()
    assert "Day shift" in body
    assert f"/tasks/{task.pk}/" not in body


def test_project_page_is_404_for_non_members(client, other_manager, project):
    client.force_login(other_manager)
    assert client.get(reverse("dashboards:project-detail", args=[project.pk])).status_code == 404
    assert client.get(reverse("dashboards:project-detail", args=[999999])).status_code == 404


def test_progress_comes_from_the_counters(task, annotator):
    before = progress.tasks_progress([task])[task.pk]
    assert (before.done, before.total) == (0, 10)
    item = Assignment.objects.get(task=task, assignee=annotator).task_items.first().item
    flow.item_status_set(task=task, item=item, status="discard", by=annotator)
    after = progress.tasks_progress([task])[task.pk]
    assert (after.done, after.total) == (1, 10)
    one = progress.task_progress(task)
    assert (one.done, one.total, one.todo) == (1, 10, 9)
    row = next(r for r in one.rows if r.assignment.assignee_id == annotator.pk)
    assert (row.total, row.done, row.discarded, row.remaining) == (5, 1, 1, 4)
    mine = progress.assignment_progress(row.assignment)
    assert (mine.total, mine.done, mine.todo) == (5, 1, 4)


def test_project_for_member_raises_404_for_non_members(other_manager, project):
    from django.http import Http404

    with pytest.raises(Http404):
        queries.project_for_member(other_manager, project.pk)
    assert queries.membership_of(other_manager, project) is None


def test_dataset_folders_include_parents(dataset, items):
    assert dataset_queries.dataset_folders(dataset) == ["/", "/city", "/city/day", "/highway"]


def test_project_page_marks_tasks_at_risk(client, manager, project, task):
    import datetime

    from django.utils import timezone

    # Created two days ago with nothing done: no pace, so at risk.
    type(task).objects.filter(pk=task.pk).update(created_at=timezone.now() - datetime.timedelta(days=2))
    client.force_login(manager)
    body = client.get(reverse("dashboards:project-detail", args=[project.pk])).content.decode()
    assert "At risk" in body


def test_the_task_tables_filter_by_state_type_assignee_and_due_date(
    client, manager, project, dataset, items, annotator
):
    """The project page's task tables go through django-filter (TaskFilter), for pages and htmx alike."""
    from django.utils import timezone

    from taskboard.annotation.models import AnnotationTask

    soon = create_task(dataset=dataset, created_by=manager, name="soon", assignees=[annotator], due_at=in_days(0.5))
    later = create_task(
        dataset=dataset,
        created_by=manager,
        name="later",
        assignees=[manager],
        due_at=in_days(5),
        allocation="pulling",
        batch_size=3,
        max_batch_workload=5,
    )
    late = create_task(dataset=dataset, created_by=manager, name="late", assignees=[annotator], due_at=in_days(1))
    AnnotationTask.objects.filter(pk=late.pk).update(due_at=timezone.now() - timezone.timedelta(hours=1))
    client.force_login(manager)
    url = reverse("dashboards:project-detail", args=[project.pk])

    def shown(**params):
        body = client.get(url, params, headers={"HX-Request": "true"}).content.decode()
        assert "<html" not in body
        return {t.name for t in (soon, later, late) if f">{t.name}</a>" in body}

    assert shown() == {"soon", "later", "late"}
    assert shown(assignee=annotator.pk) == {"soon", "late"}
    assert shown(kind="pulling") == {"later"}
    assert shown(due="overdue") == {"late"}
    assert shown(due="day") == {"soon"}
    assert shown(state="closed") == set()
    # A bad value is an error beside its field, not a 500, and narrows nothing.
    page = client.get(url, {"kind": "bogus"})
    assert page.status_code == 200 and "Select a valid choice" in page.content.decode()
