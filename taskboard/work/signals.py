"""Signals the work app sends, inside the transaction of the change they report, so a receiver's
writes (the dashboards' counters) commit or roll back with it."""

from django.dispatch import Signal

# Sent by `qa_reject` once the parent's copies are back with their annotators.
# kwargs: task (the annotation task), annotator_ids (list[int]: one per copy sent back, the person it went to), by
items_sent_back = Signal()

# Sent by `consensus_update` when an item's agreement appeared, changed or went away.
# kwargs: task (AnnotationTask), item_id (int), old (float | None), new (float | None)
consensus_scored = Signal()

# Sent by `item_time_beat` with the active time a heartbeat added (after the server's caps).
# kwargs: task_id, assignment_id (int), seconds (float, > 0), at (datetime of the beat)
active_time_recorded = Signal()
