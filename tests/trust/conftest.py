"""A world to attack: project Street with a task, its assignment, a job and a pipeline; and the people
who must not get at them (anonymous, carol the unassigned annotator, rita the reviewer, mallory who
manages another project, oscar who owns another project, stan the staff user with no membership,
root the superuser with no membership: superusers use the admin site and get nothing extra here)."""

import re
import uuid

import pytest
from django.core.cache import cache

from taskboard.annotation.models import Assignment
from taskboard.annotation.selection import Selection
from taskboard.annotation.workload import WorkloadUnit
from taskboard.api.models import ApiCommand
from taskboard.discussion.services import comment_post
from taskboard.jobs.services import job_create
from taskboard.notifications.models import EventKind, Notification, Webhook
from taskboard.notifications.services import notify
from taskboard.pipelines import editing
from taskboard.pipelines.models import NodeKind
from taskboard.projects.models import Role
from tests.factories import (
    DatasetFactory,
    MembershipFactory,
    ProjectFactory,
    UserFactory,
    create_task,
    in_days,
    make_items,
)


@pytest.fixture(autouse=True)
def _fresh_cache():
    # Login throttling counts in the cache; each test starts with none.
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def other_owner(db):
    other = ProjectFactory(name="Oscar's own")
    user = UserFactory(email="oscar@example.com")
    MembershipFactory(project=other, user=user, role=Role.OWNER)
    DatasetFactory(project=other, name="oscar-data")
    return user


@pytest.fixture
def staff(db):
    return UserFactory(email="stan@example.com", is_staff=True)


@pytest.fixture
def root(db):
    return UserFactory(email="root@example.com", is_staff=True, is_superuser=True)


@pytest.fixture
def world(
    project, owner, manager, annotator, annotator2, reviewer, other_manager, other_owner, staff, root, dataset, recipe
):
    items = make_items(dataset, {"/city/day": 6, "/city/night": 4})
    task = create_task(
        dataset=dataset,
        created_by=manager,
        name="Secret-Street-Task",
        selection=Selection(mode="folder", folder="/city"),
        assignees=[annotator],
        due_at=in_days(7),
    )
    assignment = Assignment.objects.get(task=task, assignee=annotator)
    task_item = assignment.task_items.order_by("pk").first()
    job = job_create(kind="task_create", params={}, project=project, created_by=manager, total=10)
    pipeline = editing.pipeline_create(project=project, name="Secret-Pipeline", by=manager)
    source = editing.node_add(
        pipeline=pipeline, by=manager, kind=NodeKind.DATASET, name="Src", column=0, row=0, dataset=dataset
    )
    node = editing.node_add(
        pipeline=pipeline,
        by=manager,
        kind=NodeKind.ANNOTATION,
        name="Annotate",
        column=1,
        row=0,
        dataset=dataset,
        recipe=recipe,
        workload=[WorkloadUnit(annotator, 100)],
    )
    connection = editing.connection_add(pipeline=pipeline, source=source, target=node, status="", by=manager)
    # An API command of the manager's: it names the task and its people, so only they and the managers read it.
    command = ApiCommand.objects.create(
        type="CreateTask", user=manager, project=project, spec={"createTaskPayload": {"name": "Secret-Street-Task"}}
    )
    # Issue 20: a comment thread on the task's item, the annotator's notice, the project's webhook.
    comment = comment_post(task=task, item=task_item.item, body="Secret-Street-Task talk", by=manager)
    notify(
        kind=EventKind.REWORK, recipients=[annotator], event_key="world", title="Secret-Street-Task", project=project
    )
    notification = Notification.objects.get(recipient=annotator, event_key="world")
    webhook = Webhook.objects.create(
        project=project, url="https://93.184.216.34/", events=["rework"], secret="Secret-Street-Task"
    )
    return {
        "comment": comment,
        "notification": notification,
        "webhook": webhook,
        "project": project,
        "dataset": dataset,
        "recipe": recipe,
        "items": items,
        "item": items[0],
        "task": task,
        "assignment": assignment,
        "task_item": task_item,
        "job": job,
        "pipeline": pipeline,
        "node": node,
        "connection": connection,
        "command": command,
        "owner": owner,
        "manager": manager,
        "annotator": annotator,
        # A wizard draft lives in its author's session; the attackers' sessions hold none by this id.
        "wid": uuid.uuid4().hex,
    }


@pytest.fixture
def wizard(world, client):
    """A wizard draft of the manager's, signed in on `client`: its id."""
    client.force_login(world["manager"])
    response = client.get(f"/tasks/new/?dataset={world['dataset'].pk}")
    return re.search(r"/tasks/new/([0-9a-f]{32})/", response["Location"]).group(1)
