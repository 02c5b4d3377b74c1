import pytest

from taskboard.annotation.selection import Selection
from tests.api.conftest import api, bearer  # noqa: F401
from tests.factories import create_task, in_days, make_items


@pytest.fixture
def pulling_task(dataset, recipe, manager, annotator, annotator2):
    make_items(dataset, {"/q": 30})
    return create_task(
        dataset=dataset,
        created_by=manager,
        name="pull",
        selection=Selection(mode="all"),
        assignees=[annotator, annotator2],
        due_at=in_days(3),
        allocation="pulling",
        batch_size=3,
        max_batch_workload=5,
    )
