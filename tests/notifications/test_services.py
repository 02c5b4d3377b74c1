from taskboard.notifications.models import EventKind, Notification
from taskboard.notifications.services import notify


def test_each_recipient_is_told_once_per_event(project, manager, annotator):
    told = notify(
        kind=EventKind.REWORK,
        recipients=[annotator, annotator.pk, None],
        event_key="rework:1:2",
        title="An item is back for rework",
        project=project,
        url="/work/assignments/1/items/2/",
    )
    assert told == 1
    again = notify(kind=EventKind.REWORK, recipients=[annotator, manager], event_key="rework:1:2", title="x")
    assert again == 1  # only the manager is new to this event
    assert Notification.objects.filter(recipient=annotator).count() == 1
    row = Notification.objects.get(recipient=annotator)
    assert (row.kind, row.url, row.is_read) == ("rework", "/work/assignments/1/items/2/", False)
