import pytest

from tests.factories import create_task, in_days, make_items


@pytest.fixture
def items(dataset, recipe):
    """30 items: /city/day 10, /city/night 10, /highway 10; every third annotated."""
    return make_items(dataset, {"/city/day": 10, "/city/night": 10, "/highway": 10}, annotated_every=3)


@pytest.fixture
def task(dataset, recipe, items, manager, annotator, annotator2):
    from taskboard.annotation.selection import Selection

    return create_task(
        dataset=dataset,
        created_by=manager,
        name="Day shift",
        selection=Selection(mode="folder", folder="/city/day"),
        assignees=[annotator, annotator2],
        due_at=in_days(7),
    )
