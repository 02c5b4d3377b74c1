"""New items of a dataset enter the installed pipelines whose dataset node watches it.

The datasets app, a lower layer, cannot name pipelines; it reports arrivals with a signal. What a
status change sets off, routing included, is called by name (`taskboard.work.flow`)."""

from django.dispatch import receiver

from taskboard.datasets.signals import items_arrived
from taskboard.pipelines import running


@receiver(items_arrived, dispatch_uid="pipelines.intake_on_arrival")
def intake_on_arrival(sender, dataset, count=0, by=None, **kwargs):
    for pipeline in running.pipelines_watching(dataset).select_related("project"):
        running.intake_enqueue(pipeline=pipeline, count=count, by=by)
