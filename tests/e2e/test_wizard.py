"""A manager turns a dataset's items into tasks through the wizard, in Chromium.

Screenshots of every step and of the task page go to test-artifacts/ (git-ignored).
"""

import re

import pytest
from playwright.sync_api import expect

from taskboard.annotation.models import AnnotationTask, Assignment, TaskItem
from taskboard.annotation.selection import Selection
from taskboard.work import flow
from tests.factories import create_task, in_days, make_items

pytestmark = pytest.mark.e2e


@pytest.fixture
def street(transactional_db, project, dataset, recipe, manager, annotator, annotator2, annotator3, reviewer):
    make_items(dataset, {"/city/day": 10, "/city/night": 10, "/highway": 10}, annotated_every=3)
    return dataset


def existing_task(dataset, manager, annotator, annotator2, name="Day shift"):
    return create_task(
        dataset=dataset,
        created_by=manager,
        name=name,
        selection=Selection(mode="folder", folder="/city/day"),
        assignees=[annotator, annotator2],
        due_at=in_days(7),
    )


def expect_count(page, n):
    expect(page.locator("#wizard-count .count")).to_have_text(str(n))


def settle(page):
    # Let the debounced as-you-type check finish first, as a person would: the test server shares
    # one SQLite connection between threads, so overlapping requests of one session can trip it.
    page.wait_for_load_state("networkidle")


def next_step(page, title):
    settle(page)
    page.get_by_role("button", name=re.compile(r"^Next")).click()
    expect(page.locator(".wizard-steps li.current")).to_contain_text(title)


def pick_people(page, *emails):
    for email in emails:
        page.get_by_label(email, exact=True).check()


def test_manager_creates_an_annotation_task_from_a_folder(
    browser_page, login_as, screenshot, street, manager, project
):
    page = login_as(browser_page, manager)
    page.goto(f"/projects/{project.pk}/")
    screenshot(page, "project-page")
    page.get_by_role("link", name="New task").click()
    expect(page.get_by_role("heading", name="Which items?")).to_be_visible()
    page.get_by_label("A folder").check()
    page.get_by_label("Folder", exact=True).fill("/city")
    expect_count(page, 20)
    page.get_by_label("Include subfolders").uncheck()
    expect(page.locator("#err-folder")).to_have_text("No items match.")
    page.get_by_label("Include subfolders").check()
    expect_count(page, 20)
    expect(page.locator("#err-folder")).to_be_empty()
    screenshot(page, "wizard-1-items")

    next_step(page, "Task type")
    expect(page.get_by_label("Annotation", exact=True)).to_be_checked()
    expect(page.get_by_label("Batch size")).to_be_hidden()
    screenshot(page, "wizard-2-type")

    next_step(page, "People and dates")
    pick_people(page, "bob@example.com", "carol@example.com", "dave@example.com")
    page.get_by_label("Task name").fill("City folder")
    screenshot(page, "wizard-3-people")

    next_step(page, "Review")
    expect(page.locator("#review-count")).to_have_text("20")
    expect(page.locator("table.split")).to_contain_text("bob@example.com")
    screenshot(page, "wizard-4-review")

    page.get_by_role("button", name="Create task").click()
    expect(page.get_by_role("heading", name="City folder")).to_be_visible()
    expect(page.locator("#progress-total")).to_have_text("20")
    screenshot(page, "task-page")
    task = AnnotationTask.objects.get(name="City folder")
    counts = sorted(Assignment.objects.filter(task=task).values_list("item_count", flat=True))
    assert counts == [6, 7, 7]


def test_task_page_progress_updates_live(browser_page, login_as, street, manager, annotator, annotator2):
    task = existing_task(street, manager, annotator, annotator2)
    page = login_as(browser_page, manager)
    page.goto(f"/tasks/{task.pk}/")
    expect(page.locator("#progress-done")).to_have_text("0")
    item = Assignment.objects.get(task=task, assignee=annotator).task_items.order_by("rank").first().item
    flow.item_status_set(task=task, item=item, status="completed", by=annotator)
    expect(page.locator("#progress-done")).to_have_text("1", timeout=8000)


def test_manager_creates_a_pulling_task_from_unassigned_items(
    browser_page, login_as, street, manager, annotator, annotator2
):
    existing_task(street, manager, annotator, annotator2)
    page = login_as(browser_page, manager)
    page.goto(f"/tasks/new/?dataset={street.pk}")
    page.get_by_label("Items in no task").check()
    expect_count(page, 20)
    next_step(page, "Task type")
    page.get_by_label("Pulling").check()
    expect(page.get_by_label("Batch size")).to_be_visible()
    expect(page.get_by_label("Consensus items (%)")).to_be_hidden()
    page.get_by_label("Batch size").fill("5")
    page.get_by_label("Max batch workload").fill("8")
    screenshot_name = "wizard-2-type-pulling"
    page.screenshot(path=f"test-artifacts/{screenshot_name}.png", full_page=True)
    next_step(page, "People and dates")
    expect(page.get_by_text("Allowed assignees")).to_be_visible()
    pick_people(page, "bob@example.com", "carol@example.com")
    page.get_by_label("Task name").fill("Pull the rest")
    next_step(page, "Review")
    expect(page.locator("#review-count")).to_have_text("20")
    expect(page.get_by_text("10 items wait in the queue")).to_be_visible()
    page.get_by_role("button", name="Create task").click()
    expect(page.get_by_role("heading", name="Pull the rest")).to_be_visible()
    task = AnnotationTask.objects.get(name="Pull the rest")
    assert task.is_pulling and task.batch_size == 5 and task.max_batch_workload == 8
    assert TaskItem.objects.filter(task=task).count() == 20


def test_manager_creates_a_consensus_task_from_an_explicit_list(browser_page, login_as, screenshot, street, manager):
    page = login_as(browser_page, manager)
    page.goto(f"/tasks/new/?dataset={street.pk}")
    page.get_by_label("A list of items").check()
    listed = "\n".join(f"/highway/img{i:05d}.jpg" for i in range(6))
    page.get_by_label("Item ids or filenames").fill(listed + "\n/highway/nope.jpg")
    expect(page.locator("#err-items")).to_contain_text("1 of the 7 listed items were not found")
    page.get_by_label("Item ids or filenames").fill(listed)
    expect_count(page, 6)
    screenshot(page, "wizard-1-items-list")
    next_step(page, "Task type")
    page.get_by_label("Consensus", exact=True).check()
    page.get_by_label("Consensus items (%)").fill("50")
    page.get_by_label("Annotators per consensus item").fill("3")
    next_step(page, "People and dates")
    pick_people(page, "bob@example.com", "carol@example.com")
    page.get_by_label("Task name").fill("Agreement check")
    settle(page)
    page.get_by_role("button", name=re.compile(r"^Next")).click()
    expect(page.locator("#err-assignees")).to_contain_text("at least that many assignees")
    pick_people(page, "dave@example.com")
    next_step(page, "Review")
    expect(page.locator("#review-count")).to_have_text("6")
    page.get_by_role("button", name="Create task").click()
    expect(page.get_by_role("heading", name="Agreement check")).to_be_visible()
    task = AnnotationTask.objects.get(name="Agreement check")
    assert task.is_consensus and task.consensus_assignees == 3
    # 6 items, half of them consensus with 3 copies each (+ the originals the service keeps aside).
    assert TaskItem.objects.filter(task=task, copy__gt=0).values("item").distinct().count() == 3


def test_manager_creates_a_qa_task_from_a_task(
    browser_page, login_as, screenshot, street, manager, annotator, annotator2
):
    task = existing_task(street, manager, annotator, annotator2)
    for ti in Assignment.objects.get(task=task, assignee=annotator).task_items.order_by("rank")[:3]:
        flow.item_status_set(task=task, item=ti.item, status="completed", by=annotator)
    page = login_as(browser_page, manager)
    page.goto(f"/tasks/{task.pk}/")
    page.get_by_role("link", name="Create QA task").click()
    expect(page.get_by_label("The whole dataset")).to_be_checked()
    expect_count(page, 3)
    next_step(page, "Task type")
    expect(page.get_by_label("QA review of a task")).to_be_checked()
    expect(page.get_by_label("Task to review")).to_have_value(str(task.pk))
    screenshot(page, "wizard-2-type-qa")
    next_step(page, "People and dates")
    expect(page.get_by_label("Task name")).to_have_value("Day shift_qa")
    pick_people(page, "rita@example.com")
    next_step(page, "Review")
    page.get_by_role("button", name="Create task").click()
    expect(page.get_by_role("heading", name="Day shift_qa")).to_be_visible()
    qa = AnnotationTask.objects.get(name="Day shift_qa")
    assert qa.type == "qa" and qa.parent_id == task.pk
    assert TaskItem.objects.filter(task=qa).count() == 3


def test_bad_inputs_show_their_messages_and_create_nothing(
    browser_page, login_as, screenshot, street, manager, annotator, annotator2
):
    page = login_as(browser_page, manager)
    page.goto(f"/tasks/new/?dataset={street.pk}")
    page.get_by_label("Folder", exact=True).fill("/nowhere")
    expect(page.locator("#err-folder")).to_have_text("No items match.")
    expect_count(page, 0)
    page.get_by_label("A filter (DQL)").check()
    page.get_by_label("Filter (DQL JSON)").fill('{"$and": [{"password": 1}]}')
    expect(page.locator("#err-dql")).to_contain_text("password")
    page.get_by_role("button", name=re.compile(r"^Next")).click()
    expect(page.locator(".wizard-steps li.current")).to_contain_text("Items")
    screenshot(page, "wizard-1-items-errors")
    page.get_by_label("The whole dataset").check()
    expect_count(page, 30)
    next_step(page, "Task type")
    page.get_by_label("Pulling").check()
    page.get_by_label("Batch size").fill("2")
    expect(page.locator("#err-batch_size")).to_contain_text("from 3 to 100")
    page.get_by_label("Batch size").fill("10")
    page.get_by_label("Max batch workload").fill("25")
    expect(page.locator("#err-max_batch_workload")).to_contain_text("from 12 to 20")
    page.get_by_label("Annotation", exact=True).check()
    next_step(page, "People and dates")
    pick_people(page, "bob@example.com", "carol@example.com")
    page.get_by_label("Percentages").check()
    page.get_by_label("Share of bob@example.com (%)").fill("60")
    page.get_by_label("Share of carol@example.com (%)").fill("30")
    expect(page.locator("#load-sum")).to_contain_text("90")
    expect(page.locator("#err-split")).to_contain_text("add up to 90%")
    page.get_by_label("Due date and time").fill("2001-01-01T10:00")
    expect(page.locator("#err-due_at")).to_contain_text("in the future")
    page.get_by_role("button", name=re.compile(r"^Next")).click()
    expect(page.locator(".wizard-steps li.current")).to_contain_text("People")
    screenshot(page, "wizard-3-people-errors")
    assert not AnnotationTask.objects.exists()
    page.get_by_role("button", name="Split equally").click()
    expect(page.locator("#load-sum")).to_contain_text("100")
    page.get_by_label("Due date and time").fill("2031-01-01T10:00")
    next_step(page, "Review")
    assert not AnnotationTask.objects.exists()


def test_double_click_and_two_tabs_make_one_task(browser_page, login_as, street, manager):
    page = login_as(browser_page, manager)
    page.goto(f"/tasks/new/?dataset={street.pk}")
    page.get_by_label("The whole dataset").check()
    expect_count(page, 30)
    next_step(page, "Task type")
    next_step(page, "People and dates")
    pick_people(page, "bob@example.com")
    page.get_by_label("Task name").fill("Once")
    next_step(page, "Review")
    other = page.context.new_page()
    other.goto(page.url)
    page.get_by_role("button", name="Create task").dblclick()
    expect(page.get_by_role("heading", name="Once")).to_be_visible()
    other.get_by_role("button", name="Create task").click()
    expect(other.get_by_role("heading", name="Once")).to_be_visible()
    assert other.url == page.url
    assert AnnotationTask.objects.filter(name="Once").count() == 1
    assert TaskItem.objects.filter(task__name="Once").count() == 30


def test_annotator_gets_404_on_the_wizard_and_sees_only_their_assignments(
    browser_page, login_as, screenshot, street, manager, annotator, annotator2, annotator3
):
    task = existing_task(street, manager, annotator, annotator2)
    create_task(
        dataset=street,
        created_by=manager,
        name="Dave only",
        selection=Selection(mode="folder", folder="/highway"),
        assignees=[annotator3],
        due_at=in_days(3),
    )
    page = browser_page
    page.goto("/accounts/login/")
    page.get_by_label("Email").fill("bob@example.com")
    page.get_by_label("Password").fill("pw")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Your projects")).to_be_visible()
    expect(page.locator("table.assignments")).to_contain_text("Day shift")
    expect(page.locator("table.assignments")).not_to_contain_text("Dave only")
    screenshot(page, "annotator-home")
    response = page.goto(f"/tasks/new/?dataset={street.pk}")
    assert response.status == 404
    response = page.goto(f"/tasks/{task.pk}/")
    assert response.status == 404
    response = page.goto("/work/")
    assert response.status == 200
    expect(page.locator("main")).not_to_contain_text("Dave only")


def test_layout_at_tablet_width(browser_page, login_as, screenshot, street, manager, project, annotator, annotator2):
    task = existing_task(street, manager, annotator, annotator2)
    page = login_as(browser_page, manager)
    page.set_viewport_size({"width": 800, "height": 1000})
    pages = {
        "project-page-800": f"/projects/{project.pk}/",
        "task-page-800": f"/tasks/{task.pk}/",
        "wizard-1-items-800": f"/tasks/new/?dataset={street.pk}",
    }
    for name, url in pages.items():
        page.goto(url)
        screenshot(page, name)
        # Nothing wider than the viewport: no sideways scrolling on a tablet.
        assert page.evaluate("document.documentElement.scrollWidth") <= 800, name
    next_step(page, "Task type")
    next_step(page, "People and dates")
    screenshot(page, "wizard-3-people-800")
    assert page.evaluate("document.documentElement.scrollWidth") <= 800


def test_a_large_selection_is_created_by_a_job_and_lands_on_the_task(
    browser_page, login_as, street, manager, settings
):
    settings.TASK_JOB_THRESHOLD = 5
    page = login_as(browser_page, manager)
    page.goto(f"/tasks/new/?dataset={street.pk}")
    expect_count(page, 30)
    next_step(page, "Task type")
    next_step(page, "People and dates")
    pick_people(page, "bob@example.com", "carol@example.com")
    page.get_by_label("Task name").fill("Big one")
    next_step(page, "Review")
    page.get_by_role("button", name="Create task").click()
    expect(page.get_by_role("heading", name="Big one")).to_be_visible(timeout=15_000)
    expect(page.locator("#progress-total")).to_have_text("30")
    from taskboard.jobs.models import Job

    assert Job.objects.filter(kind="task_create", state="succeeded").count() == 1


def test_manager_adds_items_and_redistributes_on_the_task_page(
    browser_page, login_as, screenshot, street, manager, annotator, annotator2
):
    task = existing_task(street, manager, annotator, annotator2)
    page = login_as(browser_page, manager)
    page.goto(f"/tasks/{task.pk}/")
    page.get_by_role("link", name="Add items").click()
    page.get_by_label("A folder").check()
    page.get_by_label("Folder", exact=True).fill("/highway")
    page.get_by_label("dave@example.com", exact=True).check()
    expect_count(page, 10)
    expect(page.locator("#err-assignees")).to_be_empty()
    screenshot(page, "task-add-items")
    page.get_by_role("button", name="Add items").click()
    expect(page.locator(".messages")).to_contain_text("Added 10 items")
    expect(page.locator("#progress-total")).to_have_text("20")
    bob = Assignment.objects.get(task=task, assignee=annotator)
    page.goto(f"/tasks/{task.pk}/redistribute/?assignment={bob.pk}")
    page.get_by_label("carol@example.com", exact=True).check()
    page.get_by_label("dave@example.com", exact=True).check()
    page.get_by_label("Percentages").check()
    page.get_by_label("Share of carol@example.com (%)").fill("50")
    page.get_by_label("Share of dave@example.com (%)").fill("40")
    expect(page.locator("#load-sum")).to_contain_text("90")
    page.get_by_role("button", name="Redistribute").click()
    expect(page.locator("#err-split")).to_contain_text("add up to 90%")
    screenshot(page, "task-redistribute-error")
    page.get_by_label("Share of dave@example.com (%)").fill("50")
    page.get_by_role("button", name="Redistribute").click()
    expect(page.locator(".messages")).to_contain_text("redistributed")
    bob.refresh_from_db()
    assert bob.item_count == 0
