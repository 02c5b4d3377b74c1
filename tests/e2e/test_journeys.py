"""A new manager's journeys, one per kind of task, in Chromium: the numbers are read as a person reads
them (visible text, roles and accessible names, never CSS classes), and each journey checks that the
review's preview is what creation made, and what the task page and the dashboard show.

Every page visited is checked with axe-core (0 serious or critical violations) and photographed at
1280 and 390 px into test-artifacts/journey-*.png.
"""

import re

import pytest
from playwright.sync_api import expect

from taskboard.annotation.models import AnnotationTask, Assignment
from taskboard.annotation.selection import Selection
from taskboard.work import flow
from tests.e2e.journey import check_page, column, matching, next_step, number, settle
from tests.factories import create_task, in_days, make_items

pytestmark = pytest.mark.e2e

PEOPLE = ["bob@example.com", "carol@example.com", "dave@example.com"]
QUEUE = "Pulling"  # the pulling queue's row, "Pulling queue", by its first word


@pytest.fixture
def street(transactional_db, project, dataset, recipe, manager, annotator, annotator2, annotator3, reviewer):
    make_items(dataset, {"/city/day": 10, "/city/night": 10, "/highway": 10})
    return dataset


@pytest.fixture
def page(browser_page, login_as, manager):
    return login_as(browser_page, manager)


def start_wizard(page, dataset):
    page.goto(f"/datasets/{dataset.pk}/")
    page.goto(f"/tasks/new/?dataset={dataset.pk}")
    expect(page.get_by_role("heading", name="Which items?")).to_be_visible()


def people_step(page, name, *emails):
    for email in emails:
        page.get_by_role("checkbox", name=email, exact=True).check()
    page.get_by_role("textbox", name="Task name").fill(name)


def review(page, name):
    """The review's numbers: {"total": n, person: items}, and the page is checked."""
    next_step(page, "Review")
    split = page.get_by_role("table", name=re.compile("per assignee|First batches"))
    counts = column(split, "Assignee", "Items")
    # What there is to do: the items, or for consensus the items and copies ("To label").
    to_label = page.get_by_role("term").filter(has_text="To label")
    total = page.get_by_role("definition").nth(1 if to_label.count() else 0)
    counts["total"] = number(total.inner_text())
    queued = page.get_by_text(re.compile(r"wait in the queue"))
    if queued.count():
        counts[QUEUE] = number(queued.inner_text())
    check_page(page, f"{name}-review")
    return counts


def create(page, name):
    page.get_by_role("button", name="Create task").click()
    expect(page.get_by_role("heading", name=name, level=1)).to_be_visible()


def task_page_numbers(page, name):
    """The task page: {"total": n, person: assigned}."""
    progress = page.get_by_role("region", name="Progress")
    counts = column(progress.get_by_role("table", name="Per assignee"), "Assignee", "Assigned")
    counts["total"] = number(re.search(r"\d+ of ([\d,]+)", progress.inner_text()).group(1))
    check_page(page, f"{name}-task")
    return counts


def dashboard_numbers(page, name):
    page.get_by_role("link", name="Dashboard", exact=True).click()
    expect(page.get_by_role("heading", name=name, level=1)).to_be_visible()
    live = page.get_by_role("region", name="Live numbers")
    counts = column(live.get_by_role("table", name="Per assignee"), "Assignee", "Assigned")
    done = re.search(r"Done\s+([\d,]+)\s*/\s*([\d,]+)", live.inner_text())
    counts["total"] = number(done.group(2))
    check_page(page, f"{name}-dashboard")
    return counts


def created_numbers(name):
    task = AnnotationTask.objects.get(name=name)
    counts = {
        a.assignee.email: a.item_count
        for a in Assignment.objects.filter(task=task, kind="work").select_related("assignee")
    }
    if task.is_pulling:
        counts[QUEUE] = task.task_items.filter(in_queue=True).count()
    counts["total"] = task.task_items.filter(assignment__kind__in=["work", "queue"]).count()
    return counts


def same_numbers_everywhere(page, name, previewed):
    create(page, name)
    on_task_page = task_page_numbers(page, name)
    on_dashboard = dashboard_numbers(page, name)
    assert previewed == created_numbers(name) == on_task_page == on_dashboard
    return previewed


def test_annotation_task_from_a_folder_split_equally(page, street, project):
    page.goto("/")
    check_page(page, "home")
    page.get_by_role("link", name=re.compile("^Street")).click()
    expect(page.get_by_role("heading", name="Street", level=1)).to_be_visible()
    check_page(page, "project")
    page.get_by_role("link", name="New task").click()
    expect(page.get_by_role("heading", name="Which items?")).to_be_visible()
    check_page(page, "folder-items")
    page.get_by_role("radio", name="A folder").check()
    page.get_by_role("combobox", name="Folder").fill("/city")
    expect(page.get_by_role("status", name="Matching items")).to_contain_text("20 items match")
    next_step(page, "Task type")
    expect(page.get_by_role("radio", name="Annotation", exact=True)).to_be_checked()
    check_page(page, "folder-type")
    next_step(page, "People and dates")
    # Nothing typed yet: no field shows an error.
    expect(page.get_by_role("alert")).to_have_count(0)
    people_step(page, "City folder", *PEOPLE)
    # The split says what it does; 20 items over 3 people differ by at most one (7/7/6, below).
    expect(page.get_by_role("radio", name="Equal: the same number of items each (at most one apart)")).to_be_checked()
    check_page(page, "folder-people")
    numbers = same_numbers_everywhere(page, "City folder", review(page, "folder"))
    assert sorted(numbers[p] for p in PEOPLE) == [6, 7, 7] and numbers["total"] == 20


def test_annotation_task_from_a_status_in_another_task(page, street, manager, annotator, annotator2):
    day = create_task(
        dataset=street,
        created_by=manager,
        name="Day shift",
        selection=Selection(mode="folder", folder="/city/day"),
        assignees=[annotator, annotator2],
        due_at=in_days(7),
    )
    for row in Assignment.objects.get(task=day, assignee=annotator).task_items.order_by("rank")[:4]:
        flow.item_status_set(task=day, item=row.item, status="completed", by=annotator)
    start_wizard(page, street)
    page.get_by_role("radio", name="By status in another task").check()
    page.get_by_role("combobox", name="Task", exact=True).select_option(label="Day shift")
    page.get_by_role("combobox", name="Status in that task").select_option(label="Completed")
    expect(page.get_by_role("status", name="Matching items")).to_contain_text("4 items match")
    check_page(page, "status-items")
    next_step(page, "Task type")
    next_step(page, "People and dates")
    people_step(page, "Second look", "carol@example.com", "dave@example.com")
    numbers = same_numbers_everywhere(page, "Second look", review(page, "status"))
    assert numbers == {"carol@example.com": 2, "dave@example.com": 2, "total": 4}


def test_annotation_task_from_items_ticked_in_the_browser(page, street, manager, annotator, annotator2):
    create_task(
        dataset=street,
        created_by=manager,
        name="Night shift",
        selection=Selection(mode="folder", folder="/city/night"),
        assignees=[annotator, annotator2],
        due_at=in_days(7),
    )
    page.goto(f"/datasets/{street.pk}/")
    filters = page.get_by_role("form", name="Filters")
    # A task chosen with its default status shows the task's items (not 0), each option once.
    filters.get_by_role("combobox", name="Task", exact=True).select_option(label="Night shift")
    status = filters.get_by_role("combobox", name="Status in that task")
    options = status.get_by_role("option").all_inner_texts()
    assert len(options) == len(set(options))
    filters.get_by_role("button", name="Apply").click()
    results = page.get_by_role("region", name="Matching items")
    expect(results).to_contain_text("10 matching items")
    check_page(page, "browser-filtered")
    for n in range(3):
        results.get_by_role("checkbox", name=f"Select /city/night/img{n:05d}.jpg").check()
    expect(results.get_by_role("status")).to_have_text("3 ticked")
    results.get_by_role("button", name="Create a task from ticked items").click()
    expect(page.get_by_role("radio", name="A list of items")).to_be_checked()
    assert matching(page) == 3
    check_page(page, "list-items")
    next_step(page, "Task type")
    next_step(page, "People and dates")
    people_step(page, "Three picked", *PEOPLE)
    numbers = same_numbers_everywhere(page, "Three picked", review(page, "list"))
    assert numbers == {p: 1 for p in PEOPLE} | {"total": 3}


def test_pulling_task_and_an_annotators_automatic_batch(
    page, street, browser_page, login_as, chromium_browser, live_server, annotator
):
    start_wizard(page, street)
    page.get_by_role("radio", name="The whole dataset").check()
    assert matching(page) == 30
    next_step(page, "Task type")
    page.get_by_role("radio", name="Pulling").check()
    page.get_by_role("spinbutton", name="Batch size").fill("3")
    page.get_by_role("spinbutton", name="Max batch workload").fill("5")
    check_page(page, "pulling-type")
    next_step(page, "People and dates")
    people_step(page, "Pull all", *PEOPLE)
    check_page(page, "pulling-people")
    previewed = review(page, "pulling")
    assert previewed == {p: 3 for p in PEOPLE} | {QUEUE: 21, "total": 30}
    same_numbers_everywhere(page, "Pull all", previewed)

    # Bob completes an item: his next batch comes by itself, and his history says the system pulled it.
    task = AnnotationTask.objects.get(name="Pull all")
    bob = Assignment.objects.get(task=task, assignee=annotator)
    login_as(page, annotator)
    page.goto(f"/work/assignments/{bob.pk}/")
    page.get_by_role("button", name=re.compile("^Completed")).click()
    expect(page.get_by_role("definition").filter(has_text=re.compile(r"^5$"))).to_have_count(1)
    page.get_by_role("group").filter(has_text="History of this item").get_by_text("History of this item").click()
    expect(page.get_by_role("list", name="History")).to_contain_text(
        "Pulled automatically for bob@example.com (by the system, on their behalf)"
    )
    check_page(page, "pulling-work")


def test_consensus_task(page, street):
    start_wizard(page, street)
    page.get_by_role("radio", name="The whole dataset").check()
    assert matching(page) == 30
    next_step(page, "Task type")
    page.get_by_role("radio", name="Consensus", exact=True).check()
    page.get_by_role("spinbutton", name="Consensus items (%)").fill("20")
    page.get_by_role("spinbutton", name="Annotators per consensus item").fill("2")
    check_page(page, "consensus-type")
    next_step(page, "People and dates")
    people_step(page, "Agree", *PEOPLE)
    previewed = review(page, "consensus")
    # 6 of 30 items are labelled by 2 people each: 12 copies in place of 6 items, 36 to label, 12 each.
    expect(page.get_by_text("12 consensus copies: 6 items, each labelled by 2 different people")).to_be_visible()
    assert previewed == {p: 12 for p in PEOPLE} | {"total": 36}
    same_numbers_everywhere(page, "Agree", previewed)


def test_qa_task_and_the_reviewer_sees_finished_items(
    page, street, manager, annotator, annotator2, reviewer, login_as
):
    day = create_task(
        dataset=street,
        created_by=manager,
        name="Day shift",
        selection=Selection(mode="folder", folder="/city/day"),
        assignees=[annotator, annotator2],
        due_at=in_days(7),
    )
    for row in Assignment.objects.get(task=day, assignee=annotator).task_items.order_by("rank")[:3]:
        flow.item_status_set(task=day, item=row.item, status="completed", by=annotator)
    start_wizard(page, street)
    page.get_by_role("radio", name="The whole dataset").check()
    next_step(page, "Task type")
    page.get_by_role("radio", name="QA review of a task").check()
    settle(page)
    # No task to review chosen yet: nothing is counted, nothing is red.
    # (A whole number: "30 items match" from the step before holds "0 items" too.)
    expect(page.get_by_role("status", name="Matching items")).not_to_contain_text(re.compile(r"(?<!\d)0 items"))
    check_page(page, "qa-type-unchosen")
    page.get_by_role("combobox", name="Task to review").select_option(label="Day shift")
    expect(page.get_by_role("status", name="Matching items")).to_contain_text("3 items match")
    next_step(page, "People and dates")
    expect(page.get_by_role("complementary")).to_contain_text("Type: QA review")
    people_step(page, "Day shift review", "rita@example.com")
    previewed = review(page, "qa")
    assert previewed == {"rita@example.com": 3, "total": 3}
    same_numbers_everywhere(page, "Day shift review", previewed)

    login_as(page, reviewer)
    page.goto("/work/")
    expect(page.get_by_role("link", name="Day shift review").first).to_be_visible()
    check_page(page, "qa-my-work")
    page.get_by_role("link", name="Day shift review").first.click()
    expect(page.get_by_role("region", name="Item")).to_contain_text("/city/day/img00000.jpg")
    check_page(page, "qa-work")
