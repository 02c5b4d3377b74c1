import io
import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image
from playwright.sync_api import expect

from taskboard.datasets import services
from tests.factories import make_items

pytestmark = pytest.mark.e2e


def _png(color):
    buf = io.BytesIO()
    Image.new("RGB", (64, 48), color).save(buf, "PNG")
    return buf.getvalue()


@pytest.fixture
def stocked(dataset, manager):
    files = [SimpleUploadedFile(f"shot{i}.png", _png((40 * i, 120, 200 - 30 * i))) for i in range(6)]
    services.items_upload(dataset=dataset, files=files, folder="/city/day", by=manager)
    make_items(dataset, {"/city/night": 30, "/highway": 20}, annotated_every=4)
    services.items_import_manifest(
        dataset=dataset,
        file=SimpleUploadedFile("m.jsonl", b'{"filename": "/docs/report.pdf"}\n'),
        by=manager,
    )
    return dataset


def test_manager_browses_filters_and_hands_a_selection_to_the_wizard(
    browser_page, login_as, screenshot, manager, stocked
):
    page = login_as(browser_page, manager)
    page.goto(f"/datasets/{stocked.pk}/")
    expect(page.get_by_role("heading", name="street-scenes")).to_be_visible()
    expect(page.locator(".list-count")).to_contain_text("57 matching items")
    screenshot(page, "datasets-browser")
    page.set_viewport_size({"width": 800, "height": 1000})
    screenshot(page, "datasets-browser-tablet")
    page.set_viewport_size({"width": 1280, "height": 900})

    # Filtering through htmx swaps only the list and pushes the URL.
    page.get_by_label("Folder", exact=True).fill("/city/day")
    expect(page.locator(".list-count")).to_contain_text("6 matching items")
    expect(page).to_have_url(re.compile(r"folder=%2Fcity%2Fday"))
    expect(page.locator(".item-card img")).to_have_count(6)
    screenshot(page, "datasets-browser-filtered")

    boxes = page.locator("input.pick")
    boxes.nth(0).check()
    boxes.nth(2).check()
    expect(page.locator(".picked-count")).to_have_text("2 ticked")
    picked = [boxes.nth(0).get_attribute("value"), boxes.nth(2).get_attribute("value")]

    # Ticks survive a change of filter; the new list shows them ticked where they appear.
    page.get_by_label("Folder", exact=True).fill("/highway")
    expect(page.locator(".list-count")).to_contain_text("20 matching items")
    expect(page.locator(".picked-count")).to_have_text("2 ticked")
    page.locator("input.pick").nth(1).check()
    picked.append(page.locator("input.pick").nth(1).get_attribute("value"))
    expect(page.locator(".picked-count")).to_have_text("3 ticked")
    screenshot(page, "datasets-browser-ticked")

    page.get_by_role("button", name="Create a task from ticked items").click()
    expect(page).to_have_url(re.compile(r"/tasks/new/"))
    expect(page.locator("textarea").first).to_have_value("\n".join(sorted(picked, key=int)))
    screenshot(page, "datasets-to-wizard")


def test_the_browser_works_without_javascript(chromium_browser, live_server, client, manager, stocked):
    context = chromium_browser.new_context(base_url=live_server.url, java_script_enabled=False)
    client.force_login(manager)
    context.add_cookies([{"name": "sessionid", "value": client.cookies["sessionid"].value, "url": live_server.url}])
    page = context.new_page()
    page.goto(f"/datasets/{stocked.pk}/")
    page.get_by_label("Folder", exact=True).fill("/highway")
    page.get_by_role("button", name="Apply").click()
    expect(page.locator(".list-count")).to_contain_text("20 matching items")
    page.get_by_role("button", name="Create a task from all 20 matching").click()
    expect(page).to_have_url(re.compile(r"/tasks/new/"))
    context.close()
