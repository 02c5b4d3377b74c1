"""A manager watches the task dashboard while an annotator completes items in another session:
the numbers change in place (htmx polling, no reload) and the polling stops once all is done."""

import pytest
from playwright.sync_api import expect

from taskboard.annotation.models import TaskItem
from taskboard.annotation.selection import Selection
from taskboard.work import flow
from tests.factories import create_task, in_days, make_items

pytestmark = pytest.mark.e2e


@pytest.fixture
def task(transactional_db, project, dataset, recipe, manager, annotator):
    make_items(dataset, {"/city": 6})
    return create_task(
        dataset=dataset,
        created_by=manager,
        name="Cars at night",
        selection=Selection(mode="folder", folder="/city"),
        assignees=[annotator],
        due_at=in_days(2),
        recipe=recipe,
    )


def complete(task, user, n):
    rows = TaskItem.objects.filter(task=task, status__isnull=True).select_related("item").order_by("rank")[:n]
    for row in list(rows):
        flow.item_status_set(task=task, item=row.item, status="completed", by=user)


def test_dashboard_updates_live_while_an_annotator_works(browser_page, login_as, screenshot, task, manager, annotator):
    page = login_as(browser_page, manager)
    page.goto(f"/dashboards/tasks/{task.pk}/")
    done = page.locator("#done-count")
    expect(done).to_have_text("0")
    expect(page.locator("#total-count")).to_have_text("6")
    expect(page.locator("#task-live")).to_have_attribute("data-polling", "on")
    expect(page.get_by_role("img", name="Burn-down")).to_be_visible()
    # Survives only if the page is never reloaded.
    page.evaluate("window.__stillHere = true")
    screenshot(page, "dashboard-task-before")

    complete(task, annotator, 2)
    expect(done).to_have_text("2", timeout=15_000)
    expect(page.locator("#status-completed")).to_have_text("2")
    expect(page.locator("#status-todo")).to_have_text("4")
    assert page.evaluate("window.__stillHere") is True
    screenshot(page, "dashboard-task-live")

    complete(task, annotator, 4)
    expect(done).to_have_text("6", timeout=15_000)
    expect(page.locator("#task-live")).to_have_attribute("data-polling", "off")
    expect(page.locator("#forecast-state")).to_have_text("Finished")
    assert page.evaluate("window.__stillHere") is True
    screenshot(page, "dashboard-task-finished")

    # The project dashboard lists the task, finished, with its numbers.
    page.goto(f"/dashboards/projects/{task.project_id}/")
    expect(page.get_by_role("link", name="Cars at night")).to_be_visible()
    expect(page.locator("#project-tasks")).to_contain_text("6 / 6")
    screenshot(page, "dashboard-project")
