"""The access policy, rule by rule, and the places where pages and API used to disagree."""

import json

import pytest

from taskboard.annotation.models import AnnotationTask, Assignment
from taskboard.annotation.selection import Selection
from taskboard.api.auth import token_issue
from taskboard.api.ids import api_id, command_api_id
from taskboard.api.models import ApiCommand
from taskboard.datasets.models import Dataset, Item
from taskboard.jobs.services import job_create
from taskboard.projects.access import can_manage, role_of
from taskboard.projects.models import Project
from tests.factories import UserFactory, create_task, in_days, make_items


@pytest.fixture
def task(dataset, recipe, manager, annotator, annotator2):
    make_items(dataset, {"/a": 4})
    return create_task(
        dataset=dataset,
        created_by=manager,
        name="t",
        due_at=in_days(3),
        selection=Selection(mode="all"),
        assignees=[annotator, annotator2],
    )


def api(client, user, method, url, body=None):
    headers = {"authorization": f"Bearer {token_issue(user=user)}"}
    data = json.dumps(body) if body is not None else None
    if method == "GET":
        return client.get(url, headers=headers)
    return client.generic(method, url, data or "{}", content_type="application/json", headers=headers)


def test_managers_see_and_manage_everything_of_their_projects(task, manager, owner, project):
    for user in (manager, owner):
        assert list(Project.objects.managed_by(user)) == [project]
        assert list(AnnotationTask.objects.managed_by(user)) == [task]
        assert Item.objects.visible_to(user).count() == 4
        assert can_manage(user, project)


def test_workers_see_their_project_and_only_the_work_they_hold(task, annotator, annotator3, project, dataset):
    mine = Assignment.objects.get(task=task, assignee=annotator)
    assert list(Project.objects.visible_to(annotator)) == [project]
    assert not Project.objects.managed_by(annotator).exists()
    assert list(Dataset.objects.visible_to(annotator)) == [dataset]
    assert list(AnnotationTask.objects.visible_to(annotator)) == [task]
    assert list(Assignment.objects.visible_to(annotator)) == [mine]
    assert set(Item.objects.visible_to(annotator)) == {row.item for row in mine.task_items.all()}
    # A member with no work in the task sees the project but not the task.
    assert list(AnnotationTask.objects.visible_to(annotator3)) == []
    assert role_of(annotator3, project) == "annotator" and not can_manage(annotator3, project)


def test_a_superuser_who_is_not_a_member_sees_nothing_on_pages_nor_api(task, client, django_user_model):
    """Pages answered 404 and the API 200: superusers use the admin site, in both."""
    root = django_user_model.objects.create_superuser(email="root@example.com", password="x")
    assert not AnnotationTask.objects.visible_to(root).exists()
    client.force_login(root)
    assert client.get(f"/tasks/{task.pk}/").status_code == 404
    assert api(client, root, "GET", f"/api/v1/annotationtasks/{api_id('task', task.pk)}").status_code == 404
    assert api(client, root, "POST", "/api/v1/annotationtasks/query", {}).json()["totalItemsCount"] == 0


def test_a_removed_assignment_leaves_its_holders_lists_on_pages_and_api(task, annotator, manager, client):
    """Pages hid removed assignees and the API listed them."""
    mine = Assignment.objects.get(task=task, assignee=annotator)
    Assignment.objects.filter(pk=mine.pk).update(removed=True)
    assert not AnnotationTask.objects.visible_to(annotator).exists()
    assert not Assignment.objects.visible_to(annotator).exists()
    assert not Item.objects.visible_to(annotator).exists()
    listed = api(client, annotator, "GET", "/api/v1/assignments").json()
    assert listed["totalItemsCount"] == 0
    assert api(client, annotator, "POST", "/api/v1/annotationtasks/query", {}).json()["totalItemsCount"] == 0
    client.force_login(annotator)
    assert client.get(f"/work/assignments/{mine.pk}/").status_code == 404
    # Managers still see it while it holds items, and no longer once it is empty.
    assert Assignment.objects.visible_to(manager).filter(pk=mine.pk).exists()
    Assignment.objects.filter(pk=mine.pk).update(item_count=0)
    assert not Assignment.objects.visible_to(manager).filter(pk=mine.pk).exists()


def test_an_inactive_user_sees_nothing(task, annotator):
    annotator.is_active = False
    annotator.save()
    assert not Project.objects.visible_to(annotator).exists()
    assert not AnnotationTask.objects.visible_to(annotator).exists()


def test_a_command_is_read_by_its_maker_and_the_managers_only(task, project, manager, owner, annotator, client):
    """Any member could read any command (task name, query, people), walking the sequential ids."""
    command = ApiCommand.objects.create(type="CreateTask", user=manager, project=project, spec={"x": 1})
    url = f"/api/v1/commands/{command_api_id(command.pk)}"
    assert api(client, manager, "GET", url).status_code == 200
    assert api(client, owner, "GET", url).status_code == 200
    assert api(client, annotator, "GET", url).status_code == 404
    own = ApiCommand.objects.create(type="CreateTask", user=annotator, project=project, spec={})
    assert api(client, annotator, "GET", f"/api/v1/commands/{command_api_id(own.pk)}").status_code == 200


def test_a_job_is_watched_by_its_starter_and_the_managers_only(project, manager, annotator, client):
    job = job_create(kind="task_create", params={}, project=project, created_by=manager, total=1)
    client.force_login(annotator)
    assert client.get(f"/jobs/{job.pk}/").status_code == 404
    client.force_login(manager)
    assert client.get(f"/jobs/{job.pk}/").status_code == 200


def test_a_stranger_gets_nothing(task, other_manager):
    stranger = UserFactory(email="x@example.com")
    for user in (stranger, other_manager):
        assert not Project.objects.visible_to(user).filter(pk=task.project_id).exists()
        assert not Item.objects.visible_to(user).exists()
        assert not AnnotationTask.objects.visible_to(user).exists()
