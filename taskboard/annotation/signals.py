"""Signals other apps listen to. Sent inside the service's transaction, so a receiver's
writes commit or roll back with the change; receivers that enqueue work use on_commit."""

from django.dispatch import Signal

# Sent after a task item's status was set or cleared.
# kwargs: task_item (TaskItem, already saved), old_status (str | None), new_status (str | None), by (User | None)
task_item_status_changed = Signal()

# Sent after items entered a task (creation or add_items). kwargs: task, item_ids (list[int] | None: all), by
task_items_added = Signal()

# Sent after a manager's bulk status (or its undo) changed many rows at once. kwargs: task,
# done_by_assignment ({assignment_id: items that became done less those that stopped being done}).
task_items_statuses_changed = Signal()
