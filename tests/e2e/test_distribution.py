"""Distribution control in the browser: the manager releases a holder's leases, sets a priority and
a status over a filter, pauses a person and hands their work to others from the people view, and
undoes it, each through htmx in place (no reload) where the page offers it."""

import re

import pytest
from playwright.sync_api import expect

from taskboard.annotation.models import Assignment, BulkOperation, Pause, TaskItem
from taskboard.annotation.selection import Selection
from tests.factories import create_task, in_days, make_items

pytestmark = pytest.mark.e2e


@pytest.fixture
def tasks(transactional_db, project, dataset, recipe, manager, annotator, annotator2):
    make_items(dataset, {"/q": 12, "/d": 10})
    pulled = create_task(
        dataset=dataset,
        created_by=manager,
        name="Pulled",
        selection=Selection(mode="folder", folder="/q"),
        assignees=[annotator, annotator2],
        due_at=in_days(2),
        allocation="pulling",
        batch_size=3,
        max_batch_workload=5,
    )
    given = create_task(
        dataset=dataset,
        created_by=manager,
        name="Given",
        selection=Selection(mode="folder", folder="/d"),
        assignees=[annotator, annotator2],
        due_at=in_days(2),
    )
    return pulled, given


def test_leases_priority_people_and_undo(browser_page, login_as, screenshot, tasks, project, manager, annotator):
    pulled, given = tasks
    page = login_as(browser_page, manager)

    page.goto(f"/tasks/{pulled.pk}/leases/")
    row = page.locator('tr[data-holder="bob@example.com"]')
    expect(row).to_be_visible()
    row.get_by_role("button", name="Release all").click()
    expect(page.locator("#lease-holders")).to_contain_text("Released 3 item(s)")
    expect(page.locator('tr[data-holder="bob@example.com"]')).to_have_count(0)
    screenshot(page, "distribution-leases")

    page.goto(f"/tasks/{given.pk}/priority/")
    page.get_by_label("Item priority (0 to 100, higher first)").fill("90")
    page.get_by_label("Filter (DQL)").fill('{"dir": "/d"}')
    page.get_by_role("button", name="Set item priority").click()
    expect(page.locator("#priority-levels")).to_contain_text("Priority 90: 10 items")

    page.goto(f"/projects/{project.pk}/people/")
    person = page.locator(f"#person-{annotator.pk}")
    person.get_by_role("button", name="Pause").click()
    expect(page.locator(f"#person-{annotator.pk} td.paused")).to_contain_text("everywhere")
    page.locator(f"#person-{annotator.pk}").get_by_role("button", name="Hand unstarted items to others").click()
    expect(page.locator(f"#person-{annotator.pk}")).to_contain_text("handed to others")
    assert Pause.objects.filter(user=annotator, task=None).exists()
    assert not TaskItem.objects.filter(task=given, assignment__assignee=annotator, status=None).exists()
    screenshot(page, "distribution-people")

    operation = BulkOperation.objects.get(kind="hand_off")
    page.goto(f"/projects/{project.pk}/operations/")
    page.locator(f"#operation-{operation.pk}").get_by_role("button", name="Undo").click()
    expect(page.locator(f"#operation-{operation.pk}")).to_contain_text("undone")
    assert Assignment.objects.get(task=given, assignee=annotator).item_count == 5


def test_bulk_status_over_a_filter_in_place_and_its_undo(browser_page, login_as, screenshot, tasks, manager):
    _, given = tasks
    page = login_as(browser_page, manager)
    page.goto(f"/tasks/{given.pk}/status/")
    marker = page.evaluate("() => (window.__kept = Math.random())")
    page.get_by_label("Status").select_option("completed")
    page.get_by_label("Filter (DQL)").fill('{"dir": "/d"}')
    page.get_by_role("button", name="Set the status").click()
    outcome = page.locator("#bulk-status-outcome")
    expect(outcome).to_contain_text("10 items changed")
    expect(outcome).to_contain_text("completed: 10 items")
    # htmx swapped the panel in place: the page was not reloaded.
    assert page.evaluate("() => window.__kept") == marker
    assert TaskItem.objects.filter(task=given, status="completed").count() == 10
    screenshot(page, "distribution-bulk-status")
    outcome.get_by_role("button", name="Undo").click()
    expect(page.locator("body")).to_contain_text("Undone: 10 item(s)")
    assert not TaskItem.objects.filter(task=given, status__isnull=False).exists()


def test_a_large_hand_off_runs_as_a_job_whose_bar_reaches_done_and_undoes(
    browser_page, login_as, screenshot, tasks, project, manager, annotator, settings
):
    # Five unstarted items in "Given" and a pulled batch of three: past a threshold of 4, a job.
    settings.BULK_JOB_THRESHOLD = 4
    _, given = tasks
    page = login_as(browser_page, manager)
    page.goto(f"/projects/{project.pk}/people/")
    person = page.locator(f"#person-{annotator.pk}")
    person.get_by_role("button", name="Pause").click()
    expect(page.locator(f"#person-{annotator.pk} td.paused")).to_contain_text("everywhere")
    page.locator(f"#person-{annotator.pk}").get_by_role("button", name="Hand unstarted items to others").click()
    # The people view hands over to the job's page, whose bar fills and says so.
    expect(page).to_have_url(re.compile(r"/jobs/\d+/$"))
    bar = page.locator(".job-progress progress")
    expect(page.locator(".job-progress")).to_contain_text("Succeeded", timeout=15_000)
    assert bar.get_attribute("value") == bar.get_attribute("max") == "8"
    expect(page.locator(".job-figures")).to_contain_text("8 / 8")
    assert not TaskItem.objects.filter(task=given, assignment__assignee=annotator, status=None).exists()
    screenshot(page, "distribution-bulk-job")
    page.get_by_role("link", name="item(s) changed: open the bulk operations (undo)").click()
    operation = BulkOperation.objects.get(kind="hand_off")
    page.locator(f"#operation-{operation.pk}").get_by_role("button", name="Undo").click()
    expect(page.locator(f"#operation-{operation.pk}")).to_contain_text("undone")
    assert Assignment.objects.get(task=given, assignee=annotator).item_count == 5
