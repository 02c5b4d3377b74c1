"""The work app's periodic jobs (Celery beat)."""

from celery import shared_task

from taskboard.work.stuck import stuck_resolve_touched, stuck_sweep


@shared_task(ignore_result=True)
def sweep_stuck_work() -> int:
    """Resolve flags whose items moved on, then flag (and hand on, by each task's rule) what is stuck."""
    stuck_resolve_touched()
    return stuck_sweep().flagged
