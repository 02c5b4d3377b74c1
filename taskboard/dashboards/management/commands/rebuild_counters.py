from django.core.management.base import BaseCommand, CommandError

from taskboard.dashboards import counters


class Command(BaseCommand):
    help = (
        "Recount every assignment's item/rework/issue counters, status counts, daily throughput and QA "
        "tallies from the rows, report any drift and repair it (with --check: only report, exit 1 on drift)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--check", action="store_true", help="Only report drift; exit with status 1 if any.")
        parser.add_argument("--task", type=int, action="append", dest="tasks", help="Limit to this task id.")

    def handle(self, *args, check=False, tasks=None, **options):
        drift = counters.find_drift(tasks) if check else counters.rebuild(tasks)
        for d in drift:
            self.stdout.write(str(d))
        if not drift:
            self.stdout.write(self.style.SUCCESS("No drift: every counter matches the rows."))
            return
        if check:
            raise CommandError(f"{len(drift)} counter(s) drifted.", returncode=1)
        self.stdout.write(self.style.WARNING(f"Repaired {len(drift)} counter(s)."))
