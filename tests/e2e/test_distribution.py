"""Distribution control in the browser: the manager releases a holder's leases, sets a priority and
a status over a filter, pauses a person and hands their work to others from the people view, and
undoes it, each through htmx in place (no reload) where the page offers it; sets the skip policy
(and an annotator skips), the stuck-work rule and a cap, and resumes a person."""

import datetime
import re

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from taskboard.annotation import leases
from taskboard.annotation.models import AnnotationTask, Assignment, BulkOperation, Cap, Pause, Skip, TaskItem
from taskboard.annotation.selection import Selection
from taskboard.work.models import StuckItem
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


def test_skip_policy_skips_stuck_rule_and_caps(
    browser_page, login_as, screenshot, tasks, project, manager, annotator, annotator2
):
    """The levers the first test does not pull: the skip policy and a skip with its reason on the task
    page, the stuck-work rule, a look now and the panel (which explains the pulling task), a cap and a
    resume on the people view."""
    pulled, given = tasks
    page = login_as(browser_page, manager)
    page.goto(f"/tasks/{given.pk}/")
    policy = page.locator("#skip-policy")
    policy.get_by_label("A reason is required").check()
    policy.get_by_label("A skipped item goes").select_option("manager")
    policy.get_by_role("button", name="Save skip policy").click()
    expect(page.locator(".messages")).to_contain_text("Skip policy saved.")
    assert AnnotationTask.objects.filter(pk=given.pk, skip_reason_required=True, skip_to="manager").exists()

    # Bob skips his first item with a reason; it goes to the task's owner.
    bob = Assignment.objects.get(task=given, assignee=annotator)
    page.goto("about:blank")
    page.wait_for_timeout(300)  # the task page's last poll answered before the sign-in writes a session
    page = login_as(page, annotator)
    page.goto(f"/work/assignments/{bob.pk}/")
    page.get_by_label("Skip this item (say why)").fill("too blurry to tell")
    page.get_by_role("button", name="Skip", exact=True).click()
    expect(page.locator(".messages")).to_contain_text("Skipped: the item went to alice@example.com")
    skip = Skip.objects.get()
    assert (
        skip.reason == "too blurry to tell"
        and TaskItem.objects.filter(task=given, item_id=skip.item_id, assignment__assignee=manager).exists()
    )

    # Leaving the work page sends its last beat: let the server answer it before the test writes
    # (the stuck rule below looks at work three hours old).
    page.goto("about:blank")
    page.wait_for_timeout(500)
    past = timezone.now() - datetime.timedelta(hours=3)
    AnnotationTask.objects.filter(pk=given.pk).update(created_at=past)
    given.changes.update(at=past)
    page = login_as(page, manager)
    page.goto(f"/tasks/{given.pk}/")
    expect(page.locator("#task-skips")).to_contain_text(f"bob@example.com skipped {skip.item.filename}")
    expect(page.locator("#task-skips")).to_contain_text("too blurry to tell")

    # The stuck rule: items untouched for an hour are flagged.
    stuck_form = page.locator("#stuck-policy")
    stuck_form.get_by_label("Stuck after (hours)").fill("1")
    stuck_form.get_by_label("Then").select_option("flag")
    stuck_form.get_by_role("button", name="Save rule").click()
    expect(page.locator(".messages")).to_contain_text("Stuck work rule saved.")
    page.get_by_role("button", name="Look for stuck work now").click()
    expect(page.locator(".messages")).to_contain_text("stuck item(s) found")
    flagged = StuckItem.objects.filter(task=given, resolved_at__isnull=True).count()
    assert flagged > 0
    expect(page.locator("#task-stuck ul.stuck li")).to_have_count(flagged)
    page.goto(f"/projects/{project.pk}/stuck/")
    expect(page.locator("tr[data-stuck]")).to_have_count(flagged)
    # The pulling task is not in the list, and the panel says why.
    expect(page.locator(f'#stuck-pulling li[data-pulling="{pulled.pk}"]')).to_contain_text("60 minutes")
    screenshot(page, "distribution-stuck")
    page.goto(f"/tasks/{pulled.pk}/")
    expect(page.locator("#task-stuck")).to_contain_text("needs no stuck-work rule")

    # Caps and resume on the people view, each answered in place.
    page.goto(f"/projects/{project.pk}/people/")
    carol = page.locator(f"#person-{annotator2.pk}")
    carol.locator(".cap-form select").select_option(str(given.pk))
    carol.get_by_label("Cap in items").fill("4")
    carol.get_by_role("button", name="Set cap").click()
    expect(page.locator(f"#person-{annotator2.pk}")).to_contain_text("capped in Given")
    expect(page.locator(f"#person-{annotator2.pk} .loads")).to_contain_text("cap 4")
    assert Cap.objects.get(task=given, user=annotator2).max_items == 4
    carol = page.locator(f"#person-{annotator2.pk}")
    carol.get_by_role("button", name="Pause").click()
    expect(page.locator(f"#person-{annotator2.pk} td.paused")).to_contain_text("everywhere")
    page.locator(f"#person-{annotator2.pk}").get_by_role("button", name="Resume").click()
    expect(page.locator(f"#person-{annotator2.pk} td.paused")).to_contain_text("no")
    assert not Pause.objects.filter(user=annotator2).exists()
    screenshot(page, "distribution-caps")


def test_the_item_browsers_filter_goes_to_a_tasks_bulk_priority(browser_page, login_as, tasks, dataset, manager):
    _, given = tasks
    page = login_as(browser_page, manager)
    page.goto(f"/datasets/{dataset.pk}/")
    page.locator("#filter-form").get_by_label("Folder", exact=True).fill("/d")
    lever = page.locator("#task-lever-form")
    expect(lever).to_contain_text("All 10 matching items, in the task")
    lever.get_by_label("All 10 matching items, in the task").select_option(label="Given")
    lever.get_by_role("button", name="Set their priority…").click()
    expect(page).to_have_url(re.compile(rf"/tasks/{given.pk}/priority/\?"))
    expect(page.get_by_label("Filter (DQL)")).to_have_value(re.compile('"/d"'))
    page.get_by_label("Item priority (0 to 100, higher first)").fill("70")
    page.get_by_role("button", name="Set item priority").click()
    expect(page.locator("#priority-levels")).to_contain_text("Priority 70: 10 items")
    assert set(TaskItem.objects.filter(task=given).values_list("priority", flat=True)) == {70}


def test_get_next_work_pulls_from_the_my_work_page(browser_page, login_as, tasks, manager, annotator):
    pulled, _ = tasks
    leases.lease_release_person(task=pulled, user=annotator, by=manager)
    assert not TaskItem.objects.filter(task=pulled, assignment__assignee=annotator).exists()
    page = login_as(browser_page, annotator)
    page.goto("/work/")
    page.get_by_role("button", name="Get next work").click()
    expect(page).to_have_url(re.compile(r"/work/assignments/\d+/"))
    assert TaskItem.objects.filter(task=pulled, assignment__assignee=annotator, in_queue=False).count() == 3


def test_reassign_from_the_task_page_and_undo_from_its_history(
    browser_page, login_as, tasks, manager, annotator, annotator3
):
    _, given = tasks
    page = login_as(browser_page, manager)
    page.goto(f"/tasks/{given.pk}/reassign/")
    page.get_by_label("Assignment").select_option(label="bob@example.com (5 items)")
    page.get_by_label("Give it to").select_option(label="dave@example.com")
    page.locator(".action-form button[type=submit]").click()
    expect(page).to_have_url(re.compile(rf"/tasks/{given.pk}/"))
    operation = BulkOperation.objects.get(kind="reassign")
    assert TaskItem.objects.filter(task=given, assignment__assignee=annotator3).count() == 5
    row = page.locator(f"#task-operations #operation-{operation.pk}")
    expect(row).to_contain_text("Reassign")
    row.get_by_role("button", name="Undo").click()
    expect(page.locator(f"#operation-{operation.pk}")).to_contain_text("undone")
    expect(page.locator(f"#operation-{operation.pk}")).to_contain_text("by alice@example.com")
    assert TaskItem.objects.filter(task=given, assignment__assignee=annotator).count() == 5
