import csv
import io

from django.urls import reverse

from taskboard.annotation import moves, services
from taskboard.annotation.models import AnnotationTask, Assignment, HoldingChange, TaskItem, TaskState
from taskboard.datasets.models import Item
from taskboard.work import flow

HX = {"HX-Request": "true"}


def detail(task):
    return reverse("dashboards:task-detail", args=[task.pk])


def action(name, task):
    return reverse(f"annotation:task-{name}", args=[task.pk])


def test_task_page_shows_progress_per_status_and_assignee(client, manager, task, annotator):
    a = Assignment.objects.get(task=task, assignee=annotator)
    first, second = list(a.task_items.order_by("rank")[:2])
    flow.item_status_set(task=task, item=first.item, status="completed", by=annotator)
    flow.item_status_set(task=task, item=second.item, status="discard", by=annotator)
    client.force_login(manager)
    response = client.get(detail(task))
    body = response.content.decode()
    assert response.status_code == 200
    assert '<strong id="progress-done">2</strong> of <strong id="progress-total">10</strong>' in body
    assert 'hx-trigger="every 3s"' in body
    assert "bob@example.com" in body and "carol@example.com" in body
    # bob: assigned 5, done 2, discarded 1, remaining 3
    row = body[body.index("<td>bob@example.com") :][:400]
    assert '<td class="num">5</td><td class="num">2</td><td class="num">1</td>' in row
    assert f"/dashboards/tasks/{task.pk}/" in body


def test_progress_fragment_for_htmx_and_it_stops_polling_when_finished(client, manager, task):
    client.force_login(manager)
    response = client.get(detail(task) + "?part=progress", headers=HX)
    body = response.content.decode()
    assert body.lstrip().startswith('<section id="task-progress"') and "<html" not in body
    assert "every 3s" in body
    services.task_close(task=task, by=manager)
    body = client.get(detail(task) + "?part=progress", headers=HX).content.decode()
    assert "every 3s" not in body and "hx-get" not in body


def test_task_page_and_actions_are_404_for_annotators_and_outsiders(client, task, annotator, reviewer, other_manager):
    urls = [detail(task), detail(task) + "?part=progress", reverse("dashboards:task-export", args=[task.pk])] + [
        action(name, task) for name in ("add-items", "remove-items", "reassign", "redistribute", "close")
    ]
    for user in (annotator, reviewer, other_manager):
        client.force_login(user)
        for url in urls:
            assert client.get(url).status_code == 404, (user, url)
            assert client.post(url, {"confirm": "on"}).status_code in (404, 405), (user, url)
    assert AnnotationTask.objects.get(pk=task.pk).state == TaskState.OPEN


def test_add_items_to_new_assignees(client, manager, task, annotator3):
    client.force_login(manager)
    assert client.get(action("add-items", task)).status_code == 200
    response = client.post(
        action("add-items", task),
        {"mode": "folder", "folder": "/city", "include_subfolders": "on", "assignees": [annotator3.pk]},
    )
    assert response.status_code == 302 and response["Location"] == detail(task)
    assert TaskItem.objects.filter(task=task).count() == 20
    assert Assignment.objects.get(task=task, assignee=annotator3).item_count == 10
    page = client.get(detail(task)).content.decode()
    assert "Added 10 items. 10 were already in the task." in page


def test_add_items_refuses_bad_input_and_writes_nothing(client, manager, task):
    client.force_login(manager)
    before = TaskItem.objects.filter(task=task).count()
    body = client.post(action("add-items", task), {"mode": "folder", "folder": "/city/day"}).content.decode()
    assert "Pick at least one assignee" in body
    body = client.post(action("add-items", task), {"mode": "filter", "dql": "[1]"}).content.decode()
    assert "JSON object" in body
    assert TaskItem.objects.filter(task=task).count() == before


def test_a_filter_with_a_number_too_long_to_read_is_refused_beside_the_field(client, manager, task):
    # Python reads no number of more than 4,300 digits; its ValueError carries no line and column.
    client.force_login(manager)
    dql = '{"$and": [{"metadata.user.n": ' + "1" * 5000 + "}]}"
    response = client.post(action("add-items", task), {"mode": "filter", "dql": dql})
    assert response.status_code == 200
    assert "Not valid JSON: a number is too long." in response.content.decode()


def test_remove_items_keeps_items_with_a_status(client, manager, task, annotator):
    a = Assignment.objects.get(task=task, assignee=annotator)
    done = a.task_items.order_by("rank").first()
    flow.item_status_set(task=task, item=done.item, status="completed", by=annotator)
    client.force_login(manager)
    response = client.post(action("remove-items", task), {"mode": "folder", "folder": "/city/day"})
    assert response.status_code == 302
    assert list(TaskItem.objects.filter(task=task).values_list("item_id", flat=True)) == [done.item_id]
    assert "Removed 9 items. 1 with a status were kept." in client.get(detail(task)).content.decode()


def test_reassign_moves_undone_items(client, manager, task, annotator, annotator3):
    a = Assignment.objects.get(task=task, assignee=annotator)
    client.force_login(manager)
    page = client.get(action("reassign", task) + f"?assignment={a.pk}").content.decode()
    assert f'<option value="{a.pk}" selected>' in page
    response = client.post(action("reassign", task), {"assignment": a.pk, "to_user": annotator3.pk})
    assert response.status_code == 302
    assert Assignment.objects.get(task=task, assignee=annotator3).item_count == 5
    assert HoldingChange.objects.filter(task=task, kind="reassign").exists()


def test_reassign_refuses_the_same_person(client, manager, task, annotator):
    a = Assignment.objects.get(task=task, assignee=annotator)
    client.force_login(manager)
    body = client.post(action("reassign", task), {"assignment": a.pk, "to_user": annotator.pk}).content.decode()
    assert "already holds" in body
    assert not HoldingChange.objects.filter(task=task, kind="reassign").exists()


def test_redistribute_by_percentages(client, manager, task, annotator, annotator2, annotator3):
    a = Assignment.objects.get(task=task, assignee=annotator)
    client.force_login(manager)
    data = {
        "assignment": a.pk,
        "assignees": [annotator2.pk, annotator3.pk],
        "split": "custom",
        f"load_{annotator2.pk}": "60",
        f"load_{annotator3.pk}": "30",
    }
    body = client.post(action("redistribute", task), data).content.decode()
    assert "add up to 90%" in body
    assert not HoldingChange.objects.filter(task=task, kind="redistribute").exists()
    data[f"load_{annotator3.pk}"] = "40"
    assert client.post(action("redistribute", task), data).status_code == 302
    a.refresh_from_db()
    assert a.item_count == 0
    assert Assignment.objects.get(task=task, assignee=annotator3).item_count == 2


def test_close_needs_confirmation(client, manager, task):
    client.force_login(manager)
    body = client.post(action("close", task), {}).content.decode()
    assert "Tick the box" in body
    assert AnnotationTask.objects.get(pk=task.pk).is_open
    assert client.post(action("close", task), {"confirm": "on"}).status_code == 302
    assert not AnnotationTask.objects.get(pk=task.pk).is_open


def test_export_streams_csv_with_formula_cells_neutralised(client, manager, task, dataset, annotator):
    Item.objects.filter(dataset=dataset, dir="/city/day", name="img00000.jpg").update(filename="=HYPERLINK(1)")
    a = Assignment.objects.get(task=task, assignee=annotator)
    flow.item_status_set(task=task, item=a.task_items.order_by("rank").first().item, status="completed", by=annotator)
    client.force_login(manager)
    response = client.get(reverse("dashboards:task-export", args=[task.pk]))
    assert response.status_code == 200 and response.streaming
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    text = b"".join(response.streaming_content).decode()
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0][:6] == ["item_id", "filename", "copy", "assignee", "assignment_kind", "status"]
    assert len(rows) == 11
    assert "'=HYPERLINK(1)" in [r[1] for r in rows]
    assert any(r[5] == "completed" and r[6] == "bob@example.com" for r in rows[1:])


def test_cell_sanitising():
    from taskboard.dashboards.csv_export import safe_cell

    for bad in ("=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\rx"):
        assert safe_cell(bad) == "'" + bad
    assert safe_cell("/a/b.jpg") == "/a/b.jpg"
    assert safe_cell(None) == ""
    assert safe_cell(3) == 3


def test_closed_task_hides_the_actions(client, manager, task):
    services.task_close(task=task, by=manager)
    client.force_login(manager)
    body = client.get(detail(task)).content.decode()
    assert action("add-items", task) not in body
    assert reverse("dashboards:task-export", args=[task.pk]) in body


def test_an_htmx_action_answers_with_hx_redirect(client, manager, task):
    client.force_login(manager)
    response = client.post(action("close", task), {"confirm": "on"}, headers=HX)
    assert response.status_code == 200
    assert response["HX-Redirect"] == detail(task)


def test_add_items_counts_as_you_type(client, manager, task):
    client.force_login(manager)
    url = reverse("annotation:task-items-validate", args=[task.pk, "add-items"])
    data = {"mode": "folder", "folder": "/highway", "_touched": "mode,folder,assignees"}
    body = client.post(url, data, headers=HX).content.decode()
    assert 'data-count="10"' in body and "Pick at least one assignee" in body and "<html" not in body
    body = client.post(url, {"mode": "folder", "folder": "/nope", "_touched": "folder"}, headers=HX).content.decode()
    assert "No items match" in body
    # A field not touched yet shows no error while one types.
    body = client.post(url, {"mode": "folder", "folder": "/nope", "_touched": "mode"}, headers=HX).content.decode()
    assert "No items match" not in body and "Pick at least one assignee" not in body
    assert client.post(reverse("annotation:task-items-validate", args=[task.pk, "close"]), {}).status_code == 404


def test_item_actions_validate_is_404_for_annotators(client, annotator, task):
    client.force_login(annotator)
    url = reverse("annotation:task-items-validate", args=[task.pk, "add-items"])
    assert client.post(url, {"mode": "all"}).status_code == 404


def test_task_page_shows_the_forecast(client, manager, task):
    client.force_login(manager)
    body = client.get(detail(task)).content.decode()
    assert "Forecast:" in body and "On track" in body


def _complete_everything(task):
    for row in TaskItem.objects.filter(task=task).select_related("item", "assignment__assignee"):
        flow.item_status_set(task=task, item=row.item, status="completed", by=row.assignment.assignee)
    task.refresh_from_db()
    assert task.state == TaskState.COMPLETED


def test_a_completed_task_keeps_its_actions_and_polls_slowly(client, manager, task, annotator3):
    _complete_everything(task)
    client.force_login(manager)
    body = client.get(detail(task)).content.decode()
    for name in ("add-items", "remove-items", "reassign", "redistribute", "close"):
        assert action(name, task) in body, name
    assert 'hx-trigger="every 30s"' in body and "reopens the task" in body
    # Adding items reopens it.
    response = client.post(
        action("add-items", task), {"mode": "folder", "folder": "/city/night", "assignees": [annotator3.pk]}
    )
    assert response.status_code == 302
    task.refresh_from_db()
    assert task.state == TaskState.OPEN and task.assignments.get(assignee=annotator3).item_count > 0


def test_a_closed_task_refuses_item_and_assignment_changes(client, manager, task, annotator, annotator3):
    from taskboard.annotation.selection import Selection
    from taskboard.annotation.workload import WorkloadUnit

    services.task_close(task=task, by=manager)
    before = sorted(TaskItem.objects.filter(task=task).values_list("item_id", "assignment_id"))
    bob = Assignment.objects.get(task=task, assignee=annotator)
    client.force_login(manager)
    body = client.get(detail(task)).content.decode()
    # Nothing on the page polls the task (the inbox bell in the top bar is the page's only poll).
    assert "?part=progress" not in body and "This task is closed" in body and ">Closed<" in body
    for name in ("add-items", "remove-items", "reassign", "redistribute"):
        assert action(name, task) not in body, name
        response = client.post(action(name, task), {"mode": "all", "assignment": bob.pk, "to_user": annotator3.pk})
        assert response.status_code == 302 and response.url == detail(task), name
    refusals = [
        lambda: moves.task_add_items(task=task, selection=Selection(mode="all"), by=manager, assignees=[annotator3]),
        lambda: moves.task_remove_items(task=task, selection=Selection(mode="all"), by=manager),
        lambda: moves.assignment_reassign(assignment=bob, to_user=annotator3, by=manager),
        lambda: moves.assignment_redistribute(assignment=bob, workload=[WorkloadUnit(annotator3, 100)], by=manager),
    ]
    for refuse in refusals:
        try:
            refuse()
        except services.ValidationError as exc:
            assert "closed" in str(exc)
        else:
            raise AssertionError("a closed task took a change")
    assert sorted(TaskItem.objects.filter(task=task).values_list("item_id", "assignment_id")) == before


def test_a_poll_after_sign_out_sends_the_page_to_sign_in(client, task):
    url = detail(task)
    response = client.get(url + "?part=progress", headers={**HX, "HX-Current-URL": f"http://testserver{url}"})
    assert response.status_code == 200
    assert response["HX-Redirect"] == f"/accounts/login/?next={url}"  # the page, not the fragment
    # An as-you-type check after sign-out too; a plain request still gets the ordinary redirect.
    check = reverse("annotation:task-items-validate", args=[task.pk, "add-items"])
    assert client.post(check, {"mode": "all"}, headers={**HX, "HX-Current-URL": f"http://testserver{url}"})[
        "HX-Redirect"
    ].startswith("/accounts/login/")
    assert client.get(url).status_code == 302
