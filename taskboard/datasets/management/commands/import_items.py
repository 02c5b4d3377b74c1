import time

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from taskboard.accounts.models import User
from taskboard.datasets.importing import import_manifest
from taskboard.datasets.models import Dataset


class Command(BaseCommand):
    help = (
        "Import a manifest (CSV or JSON Lines) from a file on this machine into a dataset, all or nothing, "
        "through the same import as the dataset page. Filenames already in the dataset are skipped."
    )

    def add_arguments(self, parser):
        parser.add_argument("manifest", help="Path of the CSV or JSON Lines file.")
        parser.add_argument("--dataset", type=int, required=True, help="The dataset's id.")
        parser.add_argument("--by", required=True, help="Email of the person the import is recorded as.")
        parser.add_argument("--kind", choices=["csv", "jsonl"], help="The format, when the file's name does not say.")

    def handle(self, *args, manifest, dataset, by, kind=None, **options):
        found = Dataset.objects.filter(pk=dataset).first()
        if found is None:
            raise CommandError(f"No dataset with id {dataset}.")
        person = User.objects.filter(email__iexact=by).first()
        if person is None:
            raise CommandError(f"No user with the email {by!r}.")
        started = time.perf_counter()
        shown = [0.0]

        def progress(done: int, total: int) -> None:
            if self.stderr.isatty() and time.perf_counter() - shown[0] > 0.5:
                shown[0] = time.perf_counter()
                self.stderr.write(f"\r{done:,} of about {total:,} rows read", ending="")

        try:
            with open(manifest, "rb") as source:
                result = import_manifest(dataset=found, source=source, by=person, progress=progress, kind=kind)
        except OSError as exc:
            raise CommandError(f"Cannot read {manifest}: {exc.strerror}.") from None
        except ValidationError as exc:
            raise CommandError("\n".join(exc.messages)) from None
        if self.stderr.isatty():
            self.stderr.write("")
        self.stdout.write(
            self.style.SUCCESS(
                f"Imported {result.created:,} items into {found.name} ({result.skipped:,} already there were skipped) "
                f"in {time.perf_counter() - started:.1f} s."
            )
        )
