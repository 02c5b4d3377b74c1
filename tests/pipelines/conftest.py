import pytest

from taskboard.annotation.workload import WorkloadUnit
from taskboard.pipelines import editing
from taskboard.pipelines.models import NodeKind
from tests.factories import make_items


@pytest.fixture
def items(dataset):
    return make_items(dataset, {"/city": 6})


@pytest.fixture
def three_nodes(project, manager, annotator, annotator2, reviewer, dataset, recipe, items):
    """dataset → annotation (bob 50, carol 50) —completed→ QA (rita 100)."""
    pipeline = editing.pipeline_create(project=project, name="Label and review", by=manager)
    source = editing.node_add(
        pipeline=pipeline, by=manager, kind=NodeKind.DATASET, name="Street", column=0, row=0, dataset=dataset
    )
    annotate = editing.node_add(
        pipeline=pipeline,
        by=manager,
        kind=NodeKind.ANNOTATION,
        name="Annotate",
        column=1,
        row=0,
        dataset=dataset,
        recipe=recipe,
        workload=[WorkloadUnit(annotator, 50), WorkloadUnit(annotator2, 50)],
    )
    review = editing.node_add(
        pipeline=pipeline,
        by=manager,
        kind=NodeKind.QA,
        name="Review",
        column=2,
        row=0,
        dataset=dataset,
        recipe=recipe,
        workload=[WorkloadUnit(reviewer, 100)],
    )
    editing.connection_add(pipeline=pipeline, source=source, target=annotate, status="", by=manager)
    editing.connection_add(pipeline=pipeline, source=annotate, target=review, status="completed", by=manager)
    return pipeline, source, annotate, review
