"""The wizard and pages' words, layout and accessibility, each as a person meets them: errors only
after typing and tied to their field, a hint naming a button that exists, dates in the reader's own
locale and time zone, a Dashboard button on one line, a large zoomable picture, and a wizard that
works by keyboard alone. Pages are also checked with axe-core (tests/e2e/journey.py)."""

import io
import re

import pytest
from django.core.files.base import ContentFile
from PIL import Image
from playwright.sync_api import expect

from taskboard.annotation.models import AnnotationTask, Assignment
from taskboard.annotation.selection import Selection
from tests.e2e.journey import check_page, next_step, settle
from tests.factories import create_task, in_days, make_items

pytestmark = pytest.mark.e2e


@pytest.fixture
def street(transactional_db, project, dataset, recipe, manager, annotator, annotator2, reviewer):
    make_items(dataset, {"/city": 6, "/highway": 6})
    return dataset


@pytest.fixture
def page(browser_page, login_as, manager):
    browser_page.route("**/beat/", lambda route: route.fulfill(status=204))
    return login_as(browser_page, manager)


def focused(locator) -> bool:
    return locator.evaluate("el => el === document.activeElement")


def tab_to(page, locator, *, limit=60):
    """Tab (only the keyboard) until `locator` has the focus."""
    for _ in range(limit):
        if focused(locator):
            return
        page.keyboard.press("Tab")
    raise AssertionError(f"{locator} never got the focus by Tab")


def test_errors_wait_for_typing_and_are_tied_to_their_field(page, street):
    page.goto(f"/tasks/new/?dataset={street.pk}")
    folder = page.get_by_role("combobox", name="Folder")
    folder.fill("/nowhere")
    # The error is linked to the field (its accessible description) and marks it invalid.
    expect(folder).to_have_accessible_description(re.compile("No items match"))
    expect(folder).to_have_attribute("aria-invalid", "true")
    folder.fill("/city")
    expect(folder).not_to_have_attribute("aria-invalid", "true")
    next_step(page, "Task type")
    next_step(page, "People and dates")
    page.get_by_role("checkbox", name="bob@example.com", exact=True).check()
    settle(page)
    # Only the field touched is checked: the name, not typed yet, shows no error.
    name = page.get_by_role("textbox", name="Task name")
    expect(page.get_by_text("Give the task a name.")).to_have_count(0)
    expect(name).not_to_have_attribute("aria-invalid", "true")
    name.fill("x")
    name.fill("")
    expect(name).to_have_accessible_description("Give the task a name.")
    # "Next" shows every error at once, each tied to its field.
    page.get_by_role("button", name=re.compile("^Next")).click()
    expect(name).to_have_attribute("aria-invalid", "true")
    check_page(page, "errors-people")


def test_the_list_hint_names_a_button_the_item_browser_has(page, street):
    page.goto(f"/tasks/new/?dataset={street.pk}")
    page.get_by_role("radio", name="A list of items").check()
    hint = page.locator("p").filter(has_text="item browser")
    button = re.search(r"“([^”]+)”", hint.inner_text()).group(1)
    hint.get_by_role("link", name="item browser").click()
    page.get_by_role("checkbox", name="Select /city/img00000.jpg").check()
    expect(page.get_by_role("button", name=button, exact=True)).to_be_visible()


def test_dates_are_in_the_readers_locale_and_time_zone(
    chromium_browser, live_server, login_as, street, manager, annotator
):
    task = create_task(
        dataset=street,
        created_by=manager,
        name="Due soon",
        selection=Selection(mode="folder", folder="/city"),
        assignees=[annotator],
        due_at=in_days(3),
    )
    context = chromium_browser.new_context(base_url=live_server.url, locale="de-DE", timezone_id="Asia/Tokyo")
    page = login_as(context.new_page(), manager)
    try:
        for url in (f"/tasks/{task.pk}/", f"/dashboards/tasks/{task.pk}/", f"/projects/{task.project_id}/"):
            page.goto(url)
            due = page.get_by_role("time").first
            iso = due.get_attribute("datetime")
            assert due.get_attribute("title") == iso
            expected = page.evaluate(
                "iso => new Intl.DateTimeFormat('de-DE', {dateStyle: 'medium', timeStyle: 'short', "
                "timeZone: 'Asia/Tokyo'}).format(new Date(iso))",
                iso,
            )
            expect(due).to_have_text(expected)
    finally:
        context.close()


def test_the_dashboard_button_stays_on_one_line(page, street, manager, annotator, annotator2, reviewer):
    """On the pulling, consensus and QA task pages the line of facts is long; the button stays put."""
    common = {"dataset": street, "created_by": manager, "due_at": in_days(3)}
    people = [annotator, annotator2]
    parent = create_task(
        name="A rather long task name for the heading",
        selection=Selection(mode="folder", folder="/city"),
        assignees=people,
        **common,
    )
    tasks = [
        create_task(name="", task_type="qa", parent=parent, assignees=[reviewer], **common),
        create_task(
            name="Pulling with a long name too",
            selection=Selection(mode="folder", folder="/highway"),
            assignees=people,
            allocation="pulling",
            batch_size=3,
            max_batch_workload=5,
            **common,
        ),
        create_task(
            name="Consensus with a long name too",
            selection=Selection(mode="folder", folder="/highway"),
            assignees=people,
            consensus_percentage=50,
            consensus_assignees=2,
            **common,
        ),
    ]
    for task in tasks:
        for width in (1280, 390):
            page.set_viewport_size({"width": width, "height": 900})
            page.goto(f"/tasks/{task.pk}/")
            button = page.get_by_role("link", name="Dashboard", exact=True)
            lines = button.evaluate(
                "el => { const r = document.createRange(); r.selectNodeContents(el);"
                " return new Set(Array.from(r.getClientRects()).map(b => Math.round(b.top))).size; }"
            )
            assert lines == 1, f"{task.name}: the Dashboard button wraps onto {lines} lines at {width} px"
            if width == 1280:
                # Beside the heading, not pushed under the task's long line of facts.
                heading = page.get_by_role("heading", level=1).bounding_box()
                below = button.bounding_box()["y"] >= heading["y"] + heading["height"]
                assert not below, f"{task.name}: the button fell under the heading"


def picture() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 48), "#4c78a8").save(out, format="PNG")
    return out.getvalue()


def test_the_work_view_shows_the_picture_large_with_zoom(browser_page, login_as, street, manager, annotator):
    item = street.items.get(filename="/city/img00000.jpg")
    item.mimetype = "image/png"
    item.file.save("small.png", ContentFile(picture()))
    task = create_task(
        dataset=street,
        created_by=manager,
        name="Look closely",
        selection=Selection(mode="folder", folder="/city"),
        assignees=[annotator],
        due_at=in_days(2),
    )
    assignment = Assignment.objects.get(task=task, assignee=annotator)
    page = login_as(browser_page, annotator)
    page.route("**/beat/", lambda route: route.fulfill(status=204))
    page.goto(f"/work/assignments/{assignment.pk}/")
    picture_view = page.get_by_role("region", name=re.compile("^Picture of"))
    image = picture_view.get_by_role("img")
    expect(image).to_be_visible()
    # A 64 px file fills the stage: an annotator sees it large.
    fit = image.bounding_box()["width"]
    assert fit >= 600, f"the picture is {fit} px wide"
    page.get_by_role("button", name="Zoom in").click()
    expect(page.get_by_role("group", name="Zoom")).to_contain_text("200%")
    assert image.bounding_box()["width"] == pytest.approx(2 * fit, rel=0.02)
    page.keyboard.press("+")
    expect(page.get_by_role("group", name="Zoom")).to_contain_text("400%")
    page.get_by_role("button", name=re.compile("^Fit")).click()
    assert image.bounding_box()["width"] == pytest.approx(fit, rel=0.02)
    check_page(page, "work-zoom")


def test_the_wizard_works_by_keyboard_alone(page, street):
    page.goto(f"/tasks/new/?dataset={street.pk}")
    folder_radio = page.get_by_role("radio", name="A folder")
    tab_to(page, folder_radio)
    for _ in range(5):  # arrows move through the radio group: … A list of items, The whole dataset
        page.keyboard.press("ArrowDown")
    expect(page.get_by_role("radio", name="The whole dataset")).to_be_checked()
    settle(page)
    tab_to(page, page.get_by_role("button", name=re.compile("^Next")))
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="What kind of task?")).to_be_visible()
    tab_to(page, page.get_by_role("button", name=re.compile("^Next")))
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="People and dates")).to_be_visible()
    tab_to(page, page.get_by_role("checkbox", name="bob@example.com", exact=True))
    page.keyboard.press("Space")
    tab_to(page, page.get_by_role("textbox", name="Task name"))
    page.keyboard.type("By keyboard")
    settle(page)
    tab_to(page, page.get_by_role("button", name=re.compile("^Next")))
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Review")).to_be_visible()
    tab_to(page, page.get_by_role("button", name="Create task"))
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="By keyboard", level=1)).to_be_visible()
    assert AnnotationTask.objects.get(name="By keyboard").task_items.count() == 12
