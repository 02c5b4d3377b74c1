"""Signals other apps listen to. Sent inside the service's transaction; receivers that enqueue
work use on_commit, so items that roll back start nothing."""

from django.dispatch import Signal

# Sent after new items were created in a dataset (upload, manifest import).
# kwargs: dataset (Dataset), count (int: how many were created), by (User | None)
items_arrived = Signal()
