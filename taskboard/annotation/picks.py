"""Items picked for one bulk action by a query rather than a list of ids (`Pick`): the admin's
"select all" over a task's rows can name a million items without the web process holding them."""

from datetime import timedelta

from django.db import connection, transaction
from django.db.models import QuerySet
from django.utils import timezone

from taskboard.accounts.models import User
from taskboard.annotation.models import AnnotationTask, Pick, PickedItem, TaskItem
from taskboard.annotation.selection import Selection
from taskboard.jobs.models import Job, JobState

# A pick serves the action it was made for, run now or as a job soon after; then it is swept, unless
# a job that has not finished (queued behind others, or retried after its worker died) still names it.
PICK_KEEP = timedelta(days=1)


def _picks_sweep() -> None:
    unfinished = Job.objects.filter(state__in=[JobState.PENDING, JobState.RUNNING]).values_list("params", flat=True)
    # A few rows at most: the jobs queued or running now.
    named = {(params.get("selection") or {}).get("pick_id") for params in unfinished if isinstance(params, dict)}
    in_use = [pick_id for pick_id in named if isinstance(pick_id, int)]
    Pick.objects.filter(created_at__lt=timezone.now() - PICK_KEEP).exclude(pk__in=in_use).delete()


@transaction.atomic
def items_pick(*, task: AnnotationTask, rows: QuerySet[TaskItem], by: User | None) -> Selection:
    """The items of `task` that `rows` (task items of that task) hold, as a selection: one
    INSERT … SELECT, every copy of an item picked once. Picks older than PICK_KEEP go first."""
    _picks_sweep()
    pick = Pick.objects.create(dataset_id=task.dataset_id, by=by)
    sql, params = rows.filter(task_id=task.pk).order_by().values("item_id").query.sql_with_params()
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {quote(PickedItem._meta.db_table)} (pick_id, item_id) "
            f"SELECT DISTINCT %s, chosen.item_id FROM ({sql}) chosen",
            [pick.pk, *params],
        )
        pick.count = cursor.rowcount
    pick.save(update_fields=["count"])
    return Selection(mode="picked", pick_id=pick.pk)
