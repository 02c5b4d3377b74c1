"""Importing a manifest: items in at the speed of the database (docs/imports.md).

`import_manifest` is the one path every front door takes (the dataset page, the API, the
`import_items` command, the job below). It reads the manifest as a stream of checked rows
(`manifest_rows`) and writes them a batch at a time in set-based statements, in ONE transaction:

- PostgreSQL: `COPY` straight into the items; once a filename turns out to be there already, `COPY`
  into a temporary staging table and `INSERT … SELECT … ON CONFLICT DO NOTHING`;
- SQLite: multi-row `INSERT … VALUES … ON CONFLICT DO NOTHING` of a few hundred rows each.

A filename already in the dataset is skipped; a bad row, or a filename listed twice, rejects the
whole manifest with messages naming the rows, and the transaction leaves nothing behind. Memory
holds one batch, whatever the manifest's size. `import_manifest_start` runs a manifest of more
than MANIFEST_JOB_THRESHOLD rows as a job with a progress bar, from a copy saved in storage.
"""

from __future__ import annotations

import contextlib
import heapq
import io
import json
import logging
import os
import queue
import threading
import uuid
from collections.abc import Callable, Generator, Iterable, Iterator
from dataclasses import dataclass
from typing import IO, Any, NamedTuple, TypeVar

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.files import File
from django.core.files.storage import default_storage
from django.db import connection, transaction
from django.urls import reverse
from django.utils import timezone

from taskboard.accounts.models import User
from taskboard.datasets import signals
from taskboard.datasets.manifest_rows import (
    FILENAME,
    METADATA,
    NUMBER,
    Row,
    RowError,
    manifest_filenames,
    manifest_kind,
    manifest_rows,
    metadata_problem,
)
from taskboard.datasets.models import Dataset, Item
from taskboard.jobs import services as job_services
from taskboard.jobs.models import Job
from taskboard.jobs.registry import job_runner
from taskboard.projects.access import can_manage

logger = logging.getLogger(__name__)

MAX_ERRORS_SHOWN = 20
# Rows written per round: one COPY and one INSERT … SELECT on PostgreSQL; the progress bar's step.
BATCH_ROWS = 50_000
# Rows the reader thread hands over at a time; two such lists wait at most. With the batch being
# written, memory holds about BATCH_ROWS + 4 × READ_AHEAD_ROWS rows whatever the manifest's size.
READ_AHEAD_ROWS = 5_000
# Rows per multi-row INSERT on SQLite: 6 values each stay far below its 32,766 variables.
SQLITE_ROWS_PER_INSERT = 500
IMPORTS_FOLDER = "imports"

Progress = Callable[[int, int], None]
T = TypeVar("T")


@dataclass(frozen=True)
class ImportResult:
    created: int
    skipped: int  # filenames already in the dataset


@dataclass(frozen=True)
class ImportStart:
    """What the import page and the API show: the result, or the job doing it."""

    result: ImportResult | None = None
    job: Job | None = None


# ---------------------------------------------------------------- the writers


_COLUMNS = "dataset_id, dir, name, filename, mimetype, url, metadata, file, annotated, created_at"


class _PostgresWriter:
    """COPY each batch straight into the items; once a filename is found already there, COPY into a
    staging table and INSERT … SELECT … ON CONFLICT DO NOTHING instead.

    The straight COPY runs under a savepoint: it writes the rows once and in pages (a staging table
    would take them twice, and INSERT … SELECT writes row by row), and a fresh dataset never meets a
    duplicate. The first unique violation rolls that batch back; it and the rest go through the
    staging table. The items' dataset is checked once per statement, by a trigger (datasets
    migration 0003), not by a foreign-key lookup per row.
    """

    def __init__(self, cursor: Any, dataset_id: int, stamp: Any):
        self.cursor = cursor
        self.dataset_id = dataset_id
        self.stamp = stamp
        self.plain = True
        table = Item._meta.db_table
        self.copy_items = f"COPY {table} ({_COLUMNS}) FROM STDIN"
        # COPY's text form of the values every row shares: written as text, parsed by the server.
        self.head = (str(int(dataset_id)),)
        self.tail = ("", "f", stamp.isoformat())
        self.insert = (
            f"INSERT INTO {table} ({_COLUMNS}) "
            "SELECT %s, dir, name, filename, mimetype, url, metadata, '', false, %s FROM item_import_staging "
            "ON CONFLICT (dataset_id, filename) DO NOTHING"
        )

    def write(self, rows: list[Row]) -> int:
        if self.plain:
            self.cursor.execute("SAVEPOINT item_import_batch")
            try:
                head, tail = self.head, self.tail
                with self.cursor.copy(self.copy_items) as copy:
                    write_row = copy.write_row
                    for row in rows:
                        write_row(head + row[1:] + tail)
            except _driver("IntegrityError") as exc:
                if getattr(exc, "sqlstate", None) != "23505":  # not a unique violation
                    raise
                self.cursor.execute("ROLLBACK TO SAVEPOINT item_import_batch")
                self.plain = False
                self.cursor.execute(
                    "CREATE TEMP TABLE IF NOT EXISTS item_import_staging "
                    "(dir text, name text, filename text, mimetype text, url text, metadata jsonb) ON COMMIT DROP"
                )
            else:
                self.cursor.execute("RELEASE SAVEPOINT item_import_batch")
                return len(rows)
        self.cursor.execute("TRUNCATE item_import_staging")
        with self.cursor.copy("COPY item_import_staging FROM STDIN") as copy:
            write_row = copy.write_row
            for row in rows:
                write_row(row[1:])
        self.cursor.execute(self.insert, (self.dataset_id, self.stamp))
        created: int = self.cursor.rowcount
        return created

    def close(self) -> None:
        pass

    def written_before(self, filenames: list[str], dataset_id: int, stamp: Any, ids: tuple[int, int]) -> set[str]:
        self.cursor.execute(
            f"SELECT filename FROM {Item._meta.db_table} WHERE dataset_id = %s AND filename = ANY(%s) "
            "AND created_at = %s AND id > %s AND id <= %s",
            (dataset_id, filenames, stamp, *ids),
        )
        return {filename for (filename,) in self.cursor.fetchall()}


class _SQLiteWriter:
    """Multi-row INSERTs straight into the items; the dataset and the time are literals we made."""

    def __init__(self, cursor: Any, dataset_id: int, stamp: Any):
        self.cursor = cursor
        self.stamp = connection.ops.adapt_datetimefield_value(stamp)
        self.constants = f"{int(dataset_id)}, ?, ?, ?, ?, ?, ?, '', 0, '{self.stamp}'"
        self.statements: dict[int, str] = {}

    def close(self) -> None:
        pass

    def _statement(self, count: int) -> str:
        if count not in self.statements:
            values = ", ".join([f"({self.constants})"] * count)
            self.statements[count] = (
                f"INSERT INTO {Item._meta.db_table} ({_COLUMNS}) VALUES {values} "
                "ON CONFLICT (dataset_id, filename) DO NOTHING"
            )
        return self.statements[count]

    def write(self, rows: list[Row]) -> int:
        created = 0
        for start in range(0, len(rows), SQLITE_ROWS_PER_INSERT):
            part = rows[start : start + SQLITE_ROWS_PER_INSERT]
            self.cursor.execute(self._statement(len(part)), [value for row in part for value in row[1:]])
            created += self.cursor.rowcount
        return created

    def written_before(self, filenames: list[str], dataset_id: int, stamp: Any, ids: tuple[int, int]) -> set[str]:
        self.cursor.execute(
            f"SELECT filename FROM {Item._meta.db_table} WHERE dataset_id = ? "
            "AND filename IN (SELECT value FROM json_each(?)) AND created_at = ? AND id > ? AND id <= ?",
            (dataset_id, json.dumps(filenames), self.stamp, *ids),
        )
        return {filename for (filename,) in self.cursor.fetchall()}


def _driver(name: str) -> type[Exception]:
    """The database driver's own exception class `name`: the writers use the driver's cursor."""
    error: type[Exception] = getattr(connection.Database, name)  # type: ignore[attr-defined]
    return error


def _largest_item_id(cursor: Any) -> int:
    cursor.execute(f"SELECT max(id) FROM {Item._meta.db_table}")
    return cursor.fetchone()[0] or 0


# ---------------------------------------------------------------- reading the source


def _binary(source: IO[bytes] | File) -> IO[bytes]:
    """The file object under a Django File (an upload, a stored file) or a temporary file's
    wrapper: what io can wrap."""
    found: Any = source
    while not isinstance(found, io.IOBase) and getattr(found, "file", None) is not None:
        found = found.file
    return found


def _size(raw: IO[bytes]) -> int:
    at = raw.tell()
    size = raw.seek(0, os.SEEK_END)
    raw.seek(at)
    return size


def _lines_at_least(raw: IO[bytes], count: int) -> bool:
    """Whether `raw` has at least `count` line breaks, reading no further than it takes to know."""
    seen = 0
    raw.seek(0)
    try:
        while chunk := raw.read(1 << 20):
            seen += chunk.count(b"\n")
            if seen >= count:
                return True
        return False
    finally:
        raw.seek(0)


def _count_lines(raw: IO[bytes]) -> int:
    lines = 0
    raw.seek(0)
    while chunk := raw.read(1 << 20):
        lines += chunk.count(b"\n")
    raw.seek(0)
    return lines + 1


def _refused(errors: list[tuple[int, str]], error_count: int) -> ValidationError:
    shown = [f"Row {number}: {error}." for number, error in sorted(errors)[:MAX_ERRORS_SHOWN]]
    if error_count > MAX_ERRORS_SHOWN:
        shown.append(f"… and {error_count - MAX_ERRORS_SHOWN:,} more rows with errors. Nothing was imported.")
    else:
        shown.append("Nothing was imported.")
    return ValidationError({"file": shown})


# ---------------------------------------------------------------- the import


def import_manifest(
    *,
    dataset: Dataset,
    source: IO[bytes] | File,
    by: User | None,
    progress: Progress | None = None,
    kind: str | None = None,
) -> ImportResult:
    """Create the items the manifest in `source` (a seekable binary file) lists, all or nothing;
    filenames already in the dataset are skipped.

    Values are stored as given (a metadata value "=SUM(A1)" stays that text); anything that
    writes them out as CSV must neutralise such cells itself. `kind` is "csv" or "jsonl"; without
    it the file's name or first character tells. `progress(done, total)` is told rows read.
    """
    raw = _binary(source)
    limit = settings.MANIFEST_MAX_BYTES
    if _size(raw) > limit:
        raise ValidationError({"file": f"The file is larger than {limit:,} bytes."})
    raw.seek(0)
    head = raw.read(4096)
    raw.seek(0)
    kind = kind or manifest_kind(str(getattr(source, "name", "") or ""), head)
    total = _count_lines(raw) if progress else 0
    max_rows = settings.MANIFEST_MAX_ROWS
    stamp = timezone.now()

    with transaction.atomic():
        connection.ensure_connection()
        cursor = connection.connection.cursor()
        writer_class = _PostgresWriter if connection.vendor == "postgresql" else _SQLiteWriter
        writer = writer_class(cursor, dataset.pk, stamp)
        largest_before = _largest_item_id(cursor)

        # The smallest row numbers with errors (a heap of the negated numbers), and how many in all.
        errors: list[tuple[int, str]] = []
        error_count = 0
        repeated: list[Row] = []  # rows whose filename an earlier batch already wrote
        rows_read = created = written = 0
        batch: list[Row] = []
        first_in_batch: dict[str, int] = {}

        def refuse(number: int, error: str) -> None:
            nonlocal error_count
            error_count += 1
            heapq.heappush(errors, (-number, error))
            if len(errors) > MAX_ERRORS_SHOWN:
                heapq.heappop(errors)

        def flush() -> None:
            nonlocal created, written
            if batch and not error_count:  # once a row is refused, nothing more is written
                before = _largest_item_id(cursor)
                try:
                    new = writer.write(batch)
                except _driver("Error") as exc:
                    # The database's JSON parser had the last word on a CSV cell's metadata.
                    _refuse_batch(batch, exc, refuse)
                    new = 0
                created += new
                written += len(batch)
                if new < len(batch) and not error_count:
                    # Some filenames were there already: from before the import (skipped), or from
                    # an earlier batch of it (listed twice: the first row is found afterwards).
                    again = writer.written_before(
                        [row[FILENAME] for row in batch], dataset.pk, stamp, (largest_before, before)
                    )
                    for row in batch:
                        if row[FILENAME] in again:
                            repeated.append(row)
                            refuse(row[NUMBER], f"{row[FILENAME]} is listed twice")
            if progress:
                progress(min(rows_read, total - 1), total)
            batch.clear()
            first_in_batch.clear()

        reading = _read_ahead(manifest_rows(raw, kind), READ_AHEAD_ROWS)
        try:
            for chunk in reading:
                rows_read += len(chunk)
                if rows_read > max_rows:
                    raise ValidationError({"file": f"A manifest may list at most {max_rows:,} items."})
                for row in chunk:
                    if isinstance(row, RowError):
                        refuse(row.number, row.error)
                        continue
                    first = first_in_batch.setdefault(row[FILENAME], row[NUMBER])
                    if first != row[NUMBER]:
                        refuse(row[NUMBER], f"{row[FILENAME]} is listed twice (first on row {first})")
                        continue
                    batch.append(row)
                    if len(batch) >= BATCH_ROWS:
                        flush()
            flush()
        finally:
            reading.close()  # stops the reader thread, whatever ended the loop
            # When the transaction failed already, it is being rolled back anyway.
            with contextlib.suppress(_driver("Error")):
                writer.close()

        if error_count:
            shown = sorted((-negated, error) for negated, error in errors)
            raise _refused(_name_first_rows(raw, kind, shown, repeated), error_count)
        if not rows_read:
            raise ValidationError({"file": "The manifest lists no items."})
        if created:
            # Pipelines whose dataset node watches this dataset take them in after the commit.
            signals.items_arrived.send(sender=Item, dataset=dataset, count=created, by=by)
        if progress:
            progress(rows_read, rows_read)
    return ImportResult(created=created, skipped=written - created)


class _ReadFailed(NamedTuple):
    exc: BaseException


def _read_ahead(items: Iterator[T], size: int) -> Generator[list[T]]:
    """`items` in lists of `size`, read by a thread a few lists ahead of the caller: parsing the next
    rows overlaps the database writing this batch (both drivers let go of the GIL while they wait).
    The thread touches no database; its exceptions are raised here."""
    chunks: queue.Queue[list[T] | _ReadFailed | None] = queue.Queue(maxsize=2)
    stop = threading.Event()

    def put(value: list[T] | _ReadFailed | None) -> bool:
        while not stop.is_set():
            try:
                chunks.put(value, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def read() -> None:
        try:
            chunk: list[T] = []
            for item in items:
                chunk.append(item)
                if len(chunk) >= size:
                    if not put(chunk):
                        return
                    chunk = []
            if put(chunk):
                put(None)
        except BaseException as exc:
            put(_ReadFailed(exc))
        finally:
            # Stopped early, the rows' generator lets go of the caller's file now, not when collected.
            close = getattr(items, "close", None)
            if close is not None:
                close()

    reader = threading.Thread(target=read, name="manifest-reader", daemon=True)
    reader.start()
    try:
        while (value := chunks.get()) is not None:
            if isinstance(value, _ReadFailed):
                raise value.exc
            yield value
    finally:
        stop.set()
        reader.join()


def _refuse_batch(batch: list[Row], exc: Exception, refuse: Callable[[int, str], None]) -> None:
    """Name the rows of a batch the database refused (its transaction is lost: the import is over)."""
    named = False
    for row in batch:
        problem = metadata_problem(row[METADATA])
        if problem:
            refuse(row[NUMBER], problem)
            named = True
    if not named:
        logger.warning("manifest rows %s to %s refused: %s", batch[0][NUMBER], batch[-1][NUMBER], exc)
        refuse(batch[0][NUMBER], f"the database refused this row or one of the {len(batch) - 1:,} after it")


def _name_first_rows(
    raw: IO[bytes], kind: str, shown: list[tuple[int, str]], repeated: Iterable[Row]
) -> list[tuple[int, str]]:
    """Add where each filename listed twice across batches first appeared, reading the file again."""
    numbers = {number for number, _ in shown}
    wanted = {row[FILENAME]: row[NUMBER] for row in repeated if row[NUMBER] in numbers}
    if not wanted:
        return shown
    raw.seek(0)
    first: dict[str, int] = {}
    for number, filename in manifest_filenames(raw, kind, until=max(wanted.values())):
        if filename in wanted and filename not in first:
            first[filename] = number
    first_of_row = {number: first[filename] for filename, number in wanted.items() if filename in first}
    return [
        (number, f"{error} (first on row {first_of_row[number]})" if number in first_of_row else error)
        for number, error in shown
    ]


# ---------------------------------------------------------------- from the page and the API


def import_manifest_start(*, dataset: Dataset, file: File, by: User) -> ImportStart:
    """Import in this request, or as a job with a progress bar when the manifest is large: the
    upload is saved in storage first, and the job reads it from there."""
    raw = _binary(file)
    limit = settings.MANIFEST_MAX_BYTES
    if _size(raw) > limit:
        raise ValidationError({"file": f"The file is larger than {limit:,} bytes."})
    if not _lines_at_least(raw, settings.MANIFEST_JOB_THRESHOLD + 1):
        return ImportStart(result=import_manifest(dataset=dataset, source=file, by=by))
    head = raw.read(4096)
    raw.seek(0)
    kind = manifest_kind(str(file.name or ""), head)
    path = default_storage.save(f"{IMPORTS_FOLDER}/{uuid.uuid4().hex}.{'csv' if kind == 'csv' else 'jsonl'}", file)
    with transaction.atomic():
        job = job_services.job_create(
            kind="items_import",
            params={"dataset": dataset.pk, "path": path, "kind": kind, "by": by.pk, "name": str(file.name)[:200]},
            project=dataset.project,
            created_by=by,
        )
        job_services.job_enqueue(job=job)
    return ImportStart(job=job)


@job_runner("items_import")
def items_import_job_run(*, job: Job, progress: Progress) -> dict[str, Any]:
    """The "items_import" job: `import_manifest` over the copy in storage, which goes once the
    import is committed or refused (a worker that dies leaves it for the retry)."""
    path = job.params["path"]
    dataset = Dataset.objects.select_related("project").filter(pk=job.params["dataset"]).first()
    by = get_user_model().objects.filter(pk=job.params["by"]).first()
    try:
        if dataset is None:
            raise ValidationError("The dataset was deleted before its import ran.")
        if by is None or not can_manage(by, dataset.project):
            raise ValidationError("Whoever started this import no longer manages the project.")
        with default_storage.open(path, "rb") as source:
            result = import_manifest(dataset=dataset, source=source, by=by, progress=progress, kind=job.params["kind"])
    except ValidationError:
        default_storage.delete(path)
        raise
    transaction.on_commit(lambda: default_storage.delete(path))
    return {
        "created": result.created,
        "skipped": result.skipped,
        "url": reverse("annotation:dataset-browse", args=[dataset.pk]),
        "label": f"Imported {result.created:,} items ({result.skipped:,} already there): open the dataset",
    }
