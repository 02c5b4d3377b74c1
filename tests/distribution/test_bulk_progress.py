"""Large bulk operations as jobs with real progress: every front door (the pages, the API, the admin)
starts them through `bulk_jobs`; the services change their rows in runs and report after each, while
staying one transaction and one undoable operation."""

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.urls import reverse

from taskboard.annotation import admin as annotation_admin
from taskboard.annotation import bulk_jobs, bulk_status, moves, operations, people, priority
from taskboard.annotation.models import Assignment, BulkOperation, HoldingChange, StatusLog, TaskItem
from taskboard.annotation.rows import bulk_run_rows, in_run, key_runs
from taskboard.annotation.selection import Selection
from taskboard.annotation.workload import WorkloadUnit
from taskboard.api.ids import api_id
from taskboard.api.models import ApiCommand
from taskboard.dashboards import counters
from taskboard.jobs import services as job_services
from taskboard.jobs.models import Job, JobState
from tests.annotation.conftest import assert_counters
from tests.factories import create_task, make_items

HX = {"HX-Request": "true"}


@pytest.fixture
def small_threshold(settings):
    # Runs of at least a quarter of the threshold: 2 rows, so 20 rows go in 10 runs.
    settings.BULK_JOB_THRESHOLD = 8
    return settings


@pytest.fixture
def task(dataset, recipe, manager, annotator, annotator2, annotator3):
    make_items(dataset, {"/a": 20, "/b": 20})
    return create_task(
        dataset=dataset,
        created_by=manager,
        name="bulk",
        selection=Selection(mode="all"),
        assignees=[annotator, annotator2],
    )


class Seen:
    """A progress report that keeps what it was told."""

    def __init__(self):
        self.calls: list[tuple[int, int]] = []

    def __call__(self, done, total):
        self.calls.append((done, total))

    @property
    def done(self):
        return [d for d, _ in self.calls]

    def moved_step_by_step(self, total):
        values = self.done
        assert values == sorted(values), values
        assert values[0] == 0 and values[-1] == total
        assert len({v for v in values if 0 < v < total}) >= 3, values


def test_runs_cover_every_row_once(small_threshold, task):
    rows = list(TaskItem.objects.filter(task=task).order_by("id").values_list("id", flat=True))
    assert bulk_run_rows(len(rows)) == 2
    runs = key_runs(sql=f"SELECT id FROM {TaskItem._meta.db_table}", params=[], key="id", total=40, watched=True)
    assert len(runs) == 20 and runs[0][0] is None and runs[-1][1] is None
    covered = []
    for run in runs:
        where, params = in_run("id", run)
        covered += list(TaskItem.objects.extra(where=[where], params=params).values_list("id", flat=True))
    assert sorted(covered) == rows
    # Nobody watching, or one run's worth: a single open range.
    assert key_runs(sql="SELECT 1 AS id", params=[], key="id", total=40, watched=False) == [(None, None)]


def test_bulk_priority_reports_each_run_and_undoes_as_one(small_threshold, task, manager):
    seen = Seen()
    changed = priority.items_priority_set(
        task=task, selection=Selection(mode="filter", dql={"dir": "/a"}), priority=90, by=manager, progress=seen
    )
    assert changed == 20
    seen.moved_step_by_step(20)
    assert TaskItem.objects.filter(task=task, priority=90).count() == 20
    operation = BulkOperation.objects.get(kind="priority")
    assert operation.count == 20 and operation.rows.count() == 20
    operations.operation_undo(operation=operation, by=manager)
    assert set(TaskItem.objects.filter(task=task).values_list("priority", flat=True)) == {50}


def test_bulk_status_reports_each_run_with_exact_log_and_counters(small_threshold, task, manager):
    seen = Seen()
    operation = bulk_status.items_status_set(task=task, selection=None, status="completed", by=manager, progress=seen)
    assert operation.count == 40
    seen.moved_step_by_step(40)
    assert StatusLog.objects.filter(task_id=task.pk, status="completed", action="create").count() == 40
    assert counters.find_drift() == []
    cleared = Seen()
    clear = bulk_status.items_status_set(task=task, selection=None, status=None, by=manager, progress=cleared)
    cleared.moved_step_by_step(40)
    assert StatusLog.objects.filter(task_id=task.pk, status="completed", action="delete").count() == 40
    assert not TaskItem.objects.filter(task=task, status__isnull=False).exists()
    operations.operation_undo(operation=clear, by=manager)
    assert TaskItem.objects.filter(task=task, status="completed").count() == 40
    assert counters.find_drift() == []


def test_reassign_and_redistribute_report_each_run_and_undo(
    small_threshold, task, manager, annotator, annotator2, annotator3
):
    mine = Assignment.objects.get(task=task, assignee=annotator)
    seen = Seen()
    target = moves.assignment_reassign(assignment=mine, to_user=annotator3, by=manager, progress=seen)
    seen.moved_step_by_step(20)
    assert target.item_count == 20 and TaskItem.objects.filter(assignment=target).count() == 20
    assert HoldingChange.objects.filter(operation__kind="reassign").count() == 20
    assert_counters(task)
    spread = Seen()
    workload = [WorkloadUnit(annotator, 50), WorkloadUnit(annotator2, 50)]
    moves.assignment_redistribute(assignment=target, workload=workload, by=manager, progress=spread)
    spread.moved_step_by_step(20)
    assert Assignment.objects.get(task=task, assignee=annotator).item_count == 10
    assert Assignment.objects.get(task=task, assignee=annotator2).item_count == 30
    # Contiguous runs in rank order, as in the request.
    ranks = list(
        TaskItem.objects.filter(task=task, assignment__assignee=annotator)
        .order_by("rank")
        .values_list("rank", flat=True)
    )
    assert ranks == list(range(ranks[0], ranks[0] + 10))
    assert_counters(task)
    operations.operation_undo(operation=BulkOperation.objects.get(kind="redistribute"), by=manager)
    assert Assignment.objects.get(pk=target.pk).item_count == 20
    assert Assignment.objects.get(task=task, assignee=annotator).item_count == 0
    assert_counters(task)


def test_hand_off_reports_over_the_whole_hand_off(small_threshold, task, project, manager, annotator, annotator2):
    people.pause_person(project=project, user=annotator, by=manager)
    seen = Seen()
    (result,) = moves.person_hand_off(project=project, user=annotator, by=manager, progress=seen)
    assert result.moved == 20
    seen.moved_step_by_step(20)
    assert Assignment.objects.get(task=task, assignee=annotator2).item_count == 40
    assert_counters(task)


def test_a_failure_half_way_leaves_nothing(small_threshold, task, manager, annotator, annotator3):
    mine = Assignment.objects.get(task=task, assignee=annotator)

    def fail_half_way(done, total):
        if done > total // 2:
            raise RuntimeError("worker lost")

    with pytest.raises(RuntimeError):
        moves.assignment_reassign(assignment=mine, to_user=annotator3, by=manager, progress=fail_half_way)
    with pytest.raises(RuntimeError):
        priority.items_priority_set(task=task, selection=None, priority=7, by=manager, progress=fail_half_way)
    assert Assignment.objects.get(pk=mine.pk).item_count == 20
    assert not TaskItem.objects.filter(task=task, assignment__assignee=annotator3).exists()
    assert not TaskItem.objects.filter(task=task, priority=7).exists()
    assert not BulkOperation.objects.exists() and not HoldingChange.objects.filter(kind="reassign").exists()
    assert_counters(task)


def test_a_job_is_started_for_large_work_and_its_runner_reports_runs(
    small_threshold, task, manager, annotator, annotator3, django_capture_on_commit_callbacks, monkeypatch
):
    seen: list[tuple[int, int]] = []
    real_call = job_services.ProgressWriter.__call__

    def spy(self, done, total=None):
        seen.append((done, total))
        real_call(self, done, total)

    monkeypatch.setattr(job_services.ProgressWriter, "__call__", spy)
    mine = Assignment.objects.get(task=task, assignee=annotator)
    with django_capture_on_commit_callbacks(execute=True):
        started = bulk_jobs.assignment_reassign_start(assignment=mine, to_user=annotator3, by=manager)
    assert started.job is not None and started.count == 20
    job = Job.objects.get(pk=started.job.pk)
    assert job.state == JobState.SUCCEEDED, job.error
    assert (job.done, job.total) == (20, 20)
    assert job.result["to_assignment"] == Assignment.objects.get(task=task, assignee=annotator3).pk
    done = [d for d, _ in seen]
    assert done == sorted(done) and len({d for d in done if 0 < d < 20}) >= 3


def test_hidden_pools_are_refused_before_any_job(small_threshold, dataset, recipe, manager, annotator, annotator2):
    make_items(dataset, {"/q": 20})
    pulled = create_task(
        dataset=dataset,
        created_by=manager,
        name="pull",
        selection=Selection(mode="folder", folder="/q"),
        assignees=[annotator, annotator2],
        allocation="pulling",
        batch_size=3,
        max_batch_workload=5,
    )
    queue = Assignment.objects.get(task=pulled, kind="queue")
    with pytest.raises(ValidationError, match="Hidden pools"):
        bulk_jobs.assignment_reassign_start(assignment=queue, to_user=annotator, by=manager)
    assert not Job.objects.exists()


# --- The front doors ------------------------------------------------------------------------------------


def test_api_reassign_of_many_is_a_command_that_follows_the_job(
    api, small_threshold, task, manager, annotator, annotator3, django_capture_on_commit_callbacks
):
    mine = Assignment.objects.get(task=task, assignee=annotator)
    path = f"/api/v1/assignments/{api_id('assignment', mine.pk)}/reassign"
    body = {"taskId": api_id("task", task.pk), "annotator": annotator3.email, "asynced": True}
    with django_capture_on_commit_callbacks(execute=True):
        answer = api(manager).post(path, body).json()
        # Not yet run: dtlpy sees a status it polls, and no new assignment yet.
        assert answer["status"] in ("created", "in-progress") and answer["spec"]["toAssignment"] is None
    job = Job.objects.get(kind="bulk_reassign")
    assert job.state == JobState.SUCCEEDED, job.error
    command = api(manager).get(f"/api/v1/commands/{answer['id']}").json()
    theirs = Assignment.objects.get(task=task, assignee=annotator3)
    assert command["status"] == "success" and command["progress"] == 100
    assert command["spec"]["toAssignment"] == api_id("assignment", theirs.pk)
    assert api(manager).get(f"/api/v1/assignments/{command['spec']['toAssignment']}").json()["totalItems"] == 20


def test_api_reassign_of_few_is_still_a_finished_command(api, task, manager, annotator, annotator3):
    mine = Assignment.objects.get(task=task, assignee=annotator)
    path = f"/api/v1/assignments/{api_id('assignment', mine.pk)}/reassign"
    answer = api(manager).post(path, {"annotator": annotator3.email}).json()
    theirs = Assignment.objects.get(task=task, assignee=annotator3)
    assert answer["status"] == "success" and answer["spec"]["toAssignment"] == api_id("assignment", theirs.pk)
    assert not Job.objects.exists()


def test_api_redistribute_of_many_is_a_command_that_follows_the_job(
    api, small_threshold, task, manager, annotator, annotator2, annotator3, django_capture_on_commit_callbacks
):
    mine = Assignment.objects.get(task=task, assignee=annotator)
    path = f"/api/v1/assignments/{api_id('assignment', mine.pk)}/redistribute"
    workload = [{"assigneeId": annotator2.email, "load": 50}, {"assigneeId": annotator3.email, "load": 50}]
    with django_capture_on_commit_callbacks(execute=True):
        answer = api(manager).post(path, {"taskId": api_id("task", task.pk), "workload": workload}).json()
    assert answer["spec"]["workload"] == workload and answer["spec"]["assignments"] is None
    command = api(manager).get(f"/api/v1/commands/{answer['id']}").json()
    assert command["status"] == "success"
    made = {a.pk for a in Assignment.objects.filter(task=task, assignee__in=[annotator2, annotator3])}
    assert {api_id("assignment", pk) for pk in made} == set(command["spec"]["assignments"])
    assert Assignment.objects.get(pk=mine.pk).item_count == 0
    assert_counters(task)


def test_api_bad_reassign_is_refused_before_any_job(api, small_threshold, task, manager, annotator):
    mine = Assignment.objects.get(task=task, assignee=annotator)
    path = f"/api/v1/assignments/{api_id('assignment', mine.pk)}/reassign"
    assert api(manager).post(path, {"annotator": annotator.email}).status_code == 400
    assert not Job.objects.exists() and not ApiCommand.objects.exists()


def test_api_patch_annotator_of_many_answers_the_assignment_with_its_command(
    api, small_threshold, task, manager, annotator, annotator3, django_capture_on_commit_callbacks
):
    mine = Assignment.objects.get(task=task, assignee=annotator)
    path = f"/api/v1/assignments/{api_id('assignment', mine.pk)}"
    with django_capture_on_commit_callbacks(execute=True):
        answer = api(manager).patch(path, {"annotator": annotator3.email}).json()
    assert answer["id"] == api_id("assignment", mine.pk) and answer["command"]["type"] == "Reassign"
    command = api(manager).get(f"/api/v1/commands/{answer['command']['id']}").json()
    theirs = Assignment.objects.get(task=task, assignee=annotator3)
    assert command["spec"]["toAssignment"] == api_id("assignment", theirs.pk) and theirs.item_count == 20


def test_api_hand_off_of_many_is_a_command(
    api, small_threshold, task, project, manager, annotator, annotator2, django_capture_on_commit_callbacks
):
    people.pause_person(project=project, user=annotator, by=manager)
    path = f"/api/v1/projects/{api_id('project', project.pk)}/people/handOff"
    with django_capture_on_commit_callbacks(execute=True):
        answer = api(manager).post(path, {"annotator": annotator.email}).json()
    assert answer["tasks"] is None and answer["command"]["type"] == "handOff"
    assert api(manager).get(f"/api/v1/commands/{answer['command']['id']}").json()["status"] == "success"
    job = Job.objects.get(kind="bulk_hand_off")
    assert job.result["moved"] == 20 and Assignment.objects.get(task=task, assignee=annotator2).item_count == 40
    operations.operation_undo(operation=BulkOperation.objects.get(pk=job.result["operation_id"]), by=manager)
    assert Assignment.objects.get(task=task, assignee=annotator).item_count == 20
    assert_counters(task)


def test_people_view_hand_off_of_many_goes_to_the_job_page(
    client, small_threshold, task, project, manager, annotator, django_capture_on_commit_callbacks
):
    people.pause_person(project=project, user=annotator, by=manager)
    client.force_login(manager)
    url = reverse("dashboards:person-hand-off", args=[project.pk, annotator.pk])
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(url, {}, headers=HX)
    job = Job.objects.get(kind="bulk_hand_off")
    assert response.headers["HX-Redirect"] == reverse("jobs:job-detail", args=[job.pk])
    assert job.state == JobState.SUCCEEDED, job.error
    page = client.get(reverse("jobs:job-detail", args=[job.pk])).content.decode()
    assert "<progress" in page and job.result["url"] in page
    assert not TaskItem.objects.filter(task=task, assignment__assignee=annotator).exists()


def test_people_view_hand_off_of_few_stays_in_place(client, task, project, manager, annotator):
    people.pause_person(project=project, user=annotator, by=manager)
    client.force_login(manager)
    url = reverse("dashboards:person-hand-off", args=[project.pk, annotator.pk])
    response = client.post(url, {}, headers=HX)
    assert response.status_code == 200 and "handed to others" in response.content.decode()
    assert not Job.objects.exists()


def test_admin_actions_start_jobs_for_many(
    admin_client, small_threshold, task, project, manager, annotator, django_capture_on_commit_callbacks
):
    pause = people.pause_person(project=project, user=annotator, by=manager)
    with django_capture_on_commit_callbacks(execute=True):
        admin_client.post(
            reverse("admin:annotation_pause_changelist"), {"action": "hand_off", "_selected_action": [pause.pk]}
        )
    assert Job.objects.get(kind="bulk_hand_off").state == JobState.SUCCEEDED
    assert not TaskItem.objects.filter(task=task, assignment__assignee=annotator).exists()
    bulk_status.items_status_set(task=task, selection=None, status="completed", by=manager)
    rows = list(TaskItem.objects.filter(task=task).values_list("pk", flat=True))
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            reverse("admin:annotation_taskitem_changelist"),
            {"action": "clear_status", "_selected_action": rows},
            follow=True,
        )
    job = Job.objects.get(kind="bulk_status")
    assert job.state == JobState.SUCCEEDED, job.error
    assert reverse("jobs:job-detail", args=[job.pk]) in response.content.decode()
    assert not TaskItem.objects.filter(task=task, status__isnull=False).exists()
    assert counters.find_drift() == []


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_postgres_a_bulk_job_s_progress_is_seen_outside_its_transaction_run_by_run(
    small_threshold, task, manager, monkeypatch
):
    if connection.vendor != "postgresql":
        pytest.skip("out-of-band progress is PostgreSQL's")
    import psycopg

    s = connection.settings_dict
    outside = psycopg.connect(dbname=s["NAME"], user=s["USER"], host=s["HOST"], port=s["PORT"], autocommit=True)
    seen: list[int] = []
    real_call = job_services.ProgressWriter.__call__

    def watched(self, done, total=None):
        self.min_interval = 0  # every run written, so the reader below sees each
        real_call(self, done, total)
        row = outside.execute("SELECT done, state FROM jobs_job WHERE id = %s", (self.job_id,)).fetchone()
        changed = outside.execute(f"SELECT count(*) FROM {TaskItem._meta.db_table} WHERE priority = 90").fetchone()[0]
        assert row[1] == "running" and changed == 0  # the reader sees the bar, never the uncommitted rows
        seen.append(row[0])

    monkeypatch.setattr(job_services.ProgressWriter, "__call__", watched)
    try:
        started = bulk_jobs.items_priority_start(task=task, selection=None, value=90, by=manager)
        job = Job.objects.get(pk=started.job.pk)
    finally:
        outside.close()
    assert job.state == JobState.SUCCEEDED, job.error
    assert seen == sorted(seen) and len({v for v in seen if 0 < v < 40}) >= 3, seen
    assert TaskItem.objects.filter(task=task, priority=90).count() == 40


def test_admin_set_status_and_reassign_forms_start_jobs_for_many(
    admin_client, small_threshold, task, annotator, annotator3, django_capture_on_commit_callbacks
):
    rows = list(TaskItem.objects.filter(task=task).values_list("pk", flat=True))
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            reverse("admin:annotation_taskitem_changelist"),
            {"action": "set_status", "_selected_action": rows, "status": "completed", "apply": "Set it"},
            follow=True,
        )
    job = Job.objects.get(kind="bulk_status")
    assert job.state == JobState.SUCCEEDED, job.error
    # The message links the job's page: a link, not its escaped markup.
    assert f'<a href="{reverse("jobs:job-detail", args=[job.pk])}">' in response.content.decode()
    assert TaskItem.objects.filter(task=task, status="completed").count() == 40
    bulk_status.items_status_set(task=task, selection=None, status=None, by=task.created_by)

    mine = Assignment.objects.get(task=task, assignee=annotator)
    with django_capture_on_commit_callbacks(execute=True):
        admin_client.post(
            reverse("admin:annotation_assignment_changelist"),
            {"action": "reassign", "_selected_action": [mine.pk], "to": annotator3.email, "apply": "Reassign"},
            follow=True,
        )
    assert Job.objects.get(kind="bulk_reassign").state == JobState.SUCCEEDED
    assert not TaskItem.objects.filter(task=task, assignment__assignee=annotator).exists()
    assert counters.find_drift() == []


def test_a_task_the_hand_off_skips_leaves_its_total(
    small_threshold, task, dataset, recipe, project, manager, annotator, annotator2
):
    """Nobody else can take the second task's items: they stay, and the bar's total drops by them
    instead of the bar jumping to done at the end."""
    make_items(dataset, {"/alone": 6})
    alone = create_task(
        dataset=dataset,
        created_by=manager,
        name="alone",
        selection=Selection(mode="folder", folder="/alone"),
        assignees=[annotator],
    )
    people.pause_person(project=project, user=annotator, by=manager)
    seen = Seen()
    results = moves.person_hand_off(project=project, user=annotator, by=manager, progress=seen)
    assert [(h.task.pk, h.moved, bool(h.skipped)) for h in results] == [(task.pk, 20, False), (alone.pk, 0, True)]
    assert seen.calls[0] == (0, 26) and seen.calls[-1] == (20, 20), seen.calls
    seen.moved_step_by_step(20)
    assert Assignment.objects.get(task=alone, assignee=annotator).item_count == 6


def test_admin_select_all_runs_a_job_over_its_pick(
    admin_client, small_threshold, task, monkeypatch, django_capture_on_commit_callbacks
):
    """A job runs after the request: its selection names the pick, which holds the items meanwhile."""
    monkeypatch.setattr(annotation_admin, "LIST_ROWS", 2)
    one = list(TaskItem.objects.filter(task=task).values_list("pk", flat=True)[:1])
    data = {"action": "set_status", "select_across": "1", "index": "0", "_selected_action": one}
    with django_capture_on_commit_callbacks(execute=True):
        admin_client.post(
            reverse("admin:annotation_taskitem_changelist"),
            {**data, "status": "completed", "apply": "Set it"},
            follow=True,
        )
    job = Job.objects.get(kind="bulk_status")
    assert job.state == JobState.SUCCEEDED, job.error
    assert job.params["selection"]["mode"] == "picked"
    assert TaskItem.objects.filter(task=task, status="completed").count() == 40
    assert counters.find_drift() == []
