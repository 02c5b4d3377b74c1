"""A manager builds a three-node pipeline in the grid editor, installs it, runs items in and
watches one move into QA when its annotator completes it in the work view. Screenshots go to test-artifacts/."""

import re

import pytest
from django.test import Client
from playwright.sync_api import expect

from taskboard.annotation.models import TaskItem
from taskboard.pipelines import editing
from taskboard.pipelines.models import Node, Pipeline
from tests.factories import make_items

pytestmark = pytest.mark.e2e


@pytest.fixture
def street(transactional_db, project, dataset, recipe, manager, annotator, reviewer):
    make_items(dataset, {"/city": 4})
    return dataset


def add_node(page, *, kind, name, column, dataset, person=None):
    form = page.get_by_role("form", name="Add node")
    form.get_by_label("Kind").select_option(kind)
    form.get_by_label("Name").fill(name)
    form.get_by_label("Column").fill(str(column))
    form.get_by_label("Row").fill("0")
    form.get_by_label("Dataset").select_option(label=dataset)
    if person:
        form.get_by_label("Person 1", exact=True).select_option(label=person)
        form.get_by_label("Load 1 (%)", exact=True).fill("100")
    form.get_by_role("button", name="Add node").click()
    expect(page.get_by_role("status")).to_have_text(f"Added {name}.")


def connect(page, source, status, target):
    form = page.get_by_role("form", name="Add connection")
    form.get_by_label("From").select_option(label=source)
    form.get_by_label("When the item gets").select_option(status)
    form.get_by_label("Into").select_option(label=target)
    form.get_by_role("button", name="Add connection").click()
    expect(page.get_by_role("status")).to_have_text("Connected.")


def count(page, node, which):
    return page.locator(f'tr[data-node="{node}"] td[data-count="{which}"]')


def test_manager_builds_a_pipeline_and_watches_an_item_move_into_qa(
    browser_page, chromium_browser, live_server, login_as, screenshot, street, project, manager, annotator
):
    page = login_as(browser_page, manager)
    page.goto(f"/pipelines/?project={project.pk}")
    page.get_by_label("Name").fill("Label and review")
    page.get_by_role("button", name="Create pipeline").click()
    expect(page.get_by_role("heading", name=re.compile("Label and review"))).to_be_visible()
    task_settings = page.get_by_role("form", name="Add node").locator("fieldset.task-only")
    expect(task_settings).to_be_hidden()  # the first node is a dataset node: no task settings
    screenshot(page, "pipeline-empty")

    add_node(page, kind="dataset", name="Street", column=0, dataset="street-scenes")
    expect(task_settings).to_be_visible()
    add_node(page, kind="annotation", name="Annotate", column=1, dataset="street-scenes", person="bob@example.com")
    add_node(page, kind="qa", name="Review", column=2, dataset="street-scenes", person="rita@example.com")
    connect(page, "Street (Dataset)", "", "Annotate (Annotation task)")
    connect(page, "Annotate (Annotation task)", "completed", "Review (QA task)")
    expect(page.locator("svg path.edge")).to_have_count(2)
    screenshot(page, "pipeline-built")

    page.get_by_role("button", name="Install").click()
    expect(page.locator("#pipeline-state")).to_have_text("Installed")
    page.get_by_role("button", name="Run").click()
    expect(page.get_by_role("status")).to_have_text("4 items entered the pipeline.")
    expect(count(page, "Annotate", "waiting")).to_have_text("4")
    screenshot(page, "pipeline-running")

    # Bob completes his first item in the work view, in his own browser; the editor polls and shows it in QA.
    annotate = Node.objects.get(name="Annotate")
    row = TaskItem.objects.filter(task=annotate.task).order_by("rank").first()
    worker_context = chromium_browser.new_context(base_url=live_server.url, viewport={"width": 1280, "height": 900})
    # A client of its own: logging bob in through the shared one would end alice's session.
    bob_client = Client()
    bob_client.force_login(annotator)
    worker_context.add_cookies(
        [{"name": "sessionid", "value": bob_client.cookies["sessionid"].value, "url": live_server.url}]
    )
    worker = worker_context.new_page()
    worker.goto(f"/work/assignments/{row.assignment_id}/items/{row.pk}/")
    worker.locator('button.status-btn[data-status="completed"]').click()
    worker.wait_for_load_state()
    screenshot(worker, "pipeline-annotator-completed")
    worker_context.close()
    row.refresh_from_db()
    assert row.status == "completed"
    expect(count(page, "Annotate", "done")).to_have_text("1", timeout=15_000)
    expect(count(page, "Review", "waiting")).to_have_text("1", timeout=15_000)
    expect(page.locator("svg")).to_contain_text("done 1 of 4")
    screenshot(page, "pipeline-item-moved")

    page.get_by_role("button", name="Pause").click()
    expect(page.locator("#pipeline-state")).to_have_text("Paused")
    assert Pipeline.objects.get().moves.filter(status="completed").count() == 1


def test_a_rework_connection_is_drawn_as_a_curve_back(
    browser_page, login_as, screenshot, street, manager, annotator, reviewer, recipe
):
    from taskboard.annotation.workload import WorkloadUnit
    from taskboard.pipelines.models import NodeKind

    pipeline = editing.pipeline_create(project=street.project, name="With rework", by=manager)
    common = {"pipeline": pipeline, "by": manager, "dataset": street, "recipe": recipe, "row": 0}
    annotate = editing.node_add(
        kind=NodeKind.ANNOTATION, name="Annotate", column=0, workload=[WorkloadUnit(annotator, 100)], **common
    )
    review = editing.node_add(
        kind=NodeKind.QA,
        name="Review",
        column=1,
        workload=[WorkloadUnit(reviewer, 100)],
        statuses=[{"key": "approved"}, {"key": "discard"}, {"key": "rework"}],
        **common,
    )
    editing.connection_add(pipeline=pipeline, source=annotate, target=review, status="completed", by=manager)
    editing.connection_add(pipeline=pipeline, source=review, target=annotate, status="rework", by=manager)
    page = login_as(browser_page, manager)
    page.goto(f"/pipelines/{pipeline.pk}/")
    expect(page.locator("svg path.edge")).to_have_count(2)
    expect(page.locator("svg path.edge.rework")).to_have_count(1)
    expect(page.locator("svg text.edge-label")).to_have_text(["completed", "rework"])
    screenshot(page, "pipeline-rework")
