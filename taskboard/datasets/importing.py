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

import collections
import contextlib
import heapq
import io
import json
import logging
import operator
import os
import queue
import threading
import uuid
from collections.abc import Callable, Generator, Iterable, Iterator
from dataclasses import dataclass
from typing import IO, Any, NamedTuple, TypeVar, cast

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
# Rows the reader thread hands over at a time. Up to a batch of them wait: while the database takes
# one batch, the thread parses the whole next one (with fewer, the two took turns, and the import's
# time was the parsing's plus the database's). Memory holds about 2 × BATCH_ROWS + READ_AHEAD_ROWS
# rows whatever the manifest's size.
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
# A row's values but its number, in the columns' order.
_VALUES = operator.itemgetter(1, 2, 3, 4, 5, 6)
_TABS_PER_LINE = len(_COLUMNS.split(",")) - 1
# What COPY's text form spells with a backslash.
_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})
_FILENAME_OF = operator.itemgetter(FILENAME)


class Piece(NamedTuple):
    """Rows of the manifest in order, and their COPY text when the reader thread formatted it."""

    rows: list[Row]
    text: str | None = None


class _PostgresWriter:
    """COPY each batch straight into the items; once a filename is found already there, COPY into a
    staging table and INSERT … SELECT … ON CONFLICT DO NOTHING instead.

    The straight COPY runs under a savepoint: it writes the rows once and in pages (a staging table
    would take them twice, and INSERT … SELECT writes row by row), and a fresh dataset never meets a
    duplicate. The first unique violation rolls that batch back; it and the rest go through the
    staging table. The items' dataset is checked once per statement, by a trigger (datasets
    migration 0003), not by a foreign-key lookup per row.

    The rows reach COPY as text the reader thread formatted a chunk at a time (`copy_text`), not
    value by value: per row, that was most of what the import spent in Python.
    """

    def __init__(self, cursor: Any, dataset_id: int, stamp: Any):
        self.cursor = cursor
        self.dataset_id = dataset_id
        self.stamp = stamp
        self.plain = True
        table = Item._meta.db_table
        self.copy_items = f"COPY {table} ({_COLUMNS}) FROM STDIN"
        # COPY's text form of the values every row shares: written as text, parsed by the server.
        self.head = f"{int(dataset_id)}\t"
        self.tail = f"\t\tf\t{stamp.isoformat()}\n"
        self.between = self.tail + self.head
        self.insert = (
            f"INSERT INTO {table} ({_COLUMNS}) SELECT {_COLUMNS} FROM item_import_staging "
            "ON CONFLICT (dataset_id, filename) DO NOTHING"
        )

    def copy_text(self, rows: list[Row]) -> str:
        """The rows as COPY text lines, all the row's values but its number between the shared ones.

        Joined a chunk at a time in C; only when a value holds what COPY's text form escapes (a
        backslash, a tab, a line break: a checked filename never does) are the rows escaped one by one."""
        if not rows:
            return ""
        text = self.head + self.between.join(map("\t".join, map(_VALUES, rows))) + self.tail
        if (
            text.count("\t") == _TABS_PER_LINE * len(rows)
            and text.count("\n") == len(rows)
            and "\\" not in text
            and "\r" not in text
        ):
            return text
        return "".join(
            self.head + "\t".join(value.translate(_COPY_ESCAPES) for value in _VALUES(row)) + self.tail for row in rows
        )

    def write(self, pieces: list[Piece]) -> int:
        count = sum(len(piece.rows) for piece in pieces)
        if self.plain:
            self.cursor.execute("SAVEPOINT item_import_batch")
            try:
                with self.cursor.copy(self.copy_items) as copy:
                    for piece in pieces:
                        copy.write(piece.text if piece.text is not None else self.copy_text(piece.rows))
            except _driver("IntegrityError") as exc:
                if getattr(exc, "sqlstate", None) != "23505":  # not a unique violation
                    raise
                self.cursor.execute("ROLLBACK TO SAVEPOINT item_import_batch")
                self.plain = False
                self.cursor.execute(
                    "CREATE TEMP TABLE IF NOT EXISTS item_import_staging (dataset_id bigint, dir text, name text, "
                    "filename text, mimetype text, url text, metadata jsonb, file text, annotated boolean, "
                    "created_at timestamptz) ON COMMIT DROP"
                )
            else:
                self.cursor.execute("RELEASE SAVEPOINT item_import_batch")
                return count
        self.cursor.execute("TRUNCATE item_import_staging")
        with self.cursor.copy("COPY item_import_staging FROM STDIN") as copy:
            for piece in pieces:
                copy.write(piece.text if piece.text is not None else self.copy_text(piece.rows))
        self.cursor.execute(self.insert)
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

    def copy_text(self, rows: list[Row]) -> None:
        return None

    def write(self, pieces: list[Piece]) -> int:
        rows = [row for piece in pieces for row in piece.rows]
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
        # The batch: pieces of the chunks the reader thread handed over, their rows' count, and the
        # filenames in it (a row is looked at alone only when a filename repeats within the batch).
        batch: list[Piece] = []
        batch_rows = 0
        in_batch: set[str] = set()
        batch_size = BATCH_ROWS

        def refuse(number: int, error: str) -> None:
            nonlocal error_count
            error_count += 1
            heapq.heappush(errors, (-number, error))
            if len(errors) > MAX_ERRORS_SHOWN:
                heapq.heappop(errors)

        def flush() -> None:
            nonlocal created, written, batch_rows
            if batch and not error_count:  # once a row is refused, nothing more is written
                before = _largest_item_id(cursor)
                try:
                    new = writer.write(batch)
                except _driver("Error") as exc:
                    # The database's JSON parser had the last word on a CSV cell's metadata.
                    _refuse_batch([row for piece in batch for row in piece.rows], exc, refuse)
                    new = 0
                created += new
                written += batch_rows
                if new < batch_rows and not error_count:
                    # Some filenames were there already: from before the import (skipped), or from
                    # an earlier batch of it (listed twice: the first row is found afterwards).
                    rows = [row for piece in batch for row in piece.rows]
                    again = writer.written_before(
                        [row[FILENAME] for row in rows], dataset.pk, stamp, (largest_before, before)
                    )
                    for row in rows:
                        if row[FILENAME] in again:
                            repeated.append(row)
                            refuse(row[NUMBER], f"{row[FILENAME]} is listed twice")
            if progress:
                progress(min(rows_read, total - 1), total)
            batch.clear()
            in_batch.clear()
            batch_rows = 0

        def refuse_until(chunk: _Chunk, number: int) -> None:
            """Refuse the chunk's bad rows before row `number` (all of them with 0): in the file's order
            with the batches' writes, as a row-by-row reading would."""
            while chunk.errors and (not number or chunk.errors[0].number < number):
                refuse(*chunk.errors.popleft())

        def take(chunk: _Chunk) -> None:
            """Add the chunk's good rows to the batch, a batch written whenever it is full."""
            nonlocal batch_rows
            rows, done = chunk.rows, 0
            while done < len(rows):
                whole = not done and len(rows) <= batch_size - batch_rows
                part = rows if whole else rows[done : done + batch_size - batch_rows]
                known = len(in_batch)
                in_batch.update(map(_FILENAME_OF, part))
                if len(in_batch) - known != len(part):
                    take_one_by_one(chunk, rows[done:], known)
                    return
                refuse_until(chunk, part[-1][NUMBER] + 1)
                batch.append(Piece(part, chunk.text if whole else None))
                batch_rows += len(part)
                done += len(part)
                if batch_rows >= batch_size:
                    flush()
            refuse_until(chunk, 0)

        def take_one_by_one(chunk: _Chunk, rows: list[Row], known: int) -> None:
            """`take` where a filename repeats within the batch: the rows one at a time, the repeated
            ones refused with the row that first listed the filename."""
            nonlocal batch_rows
            first_in_batch = {row[FILENAME]: row[NUMBER] for piece in batch for row in piece.rows}
            assert len(first_in_batch) == known
            part: list[Row] = []
            for row in rows:
                refuse_until(chunk, row[NUMBER])
                first = first_in_batch.setdefault(row[FILENAME], row[NUMBER])
                if first != row[NUMBER]:
                    refuse(row[NUMBER], f"{row[FILENAME]} is listed twice (first on row {first})")
                    continue
                part.append(row)
                if batch_rows + len(part) >= batch_size:
                    batch.append(Piece(part))
                    batch_rows += len(part)
                    part = []
                    flush()
                    first_in_batch.clear()
            if part:
                batch.append(Piece(part))
                batch_rows += len(part)
            in_batch.clear()
            in_batch.update(first_in_batch)
            refuse_until(chunk, 0)

        chunk_rows = min(READ_AHEAD_ROWS, batch_size)
        reading = _read_ahead(
            manifest_rows(raw, kind), chunk_rows, writer.copy_text, ahead=-(-batch_size // chunk_rows)
        )
        try:
            for chunk in reading:
                rows_read += chunk.read
                if rows_read > max_rows:
                    raise ValidationError({"file": f"A manifest may list at most {max_rows:,} items."})
                take(chunk)
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


@dataclass
class _Chunk:
    """Rows as the reader thread hands them over: the good ones with their COPY text (when the
    writer takes text), the refused ones, and how many rows were read."""

    rows: list[Row]
    text: str | None
    errors: collections.deque[RowError]
    read: int


def _read_ahead(
    items: Iterator[Row | RowError], size: int, copy_text: Callable[[list[Row]], str | None], *, ahead: int
) -> Generator[_Chunk]:
    """`items` in chunks of `size`, read by a thread up to `ahead` chunks ahead of the caller: parsing
    and formatting the next rows overlaps the database writing this batch (both drivers let go of the
    GIL while they wait). The thread touches no database; its exceptions are raised here."""
    chunks: queue.Queue[_Chunk | _ReadFailed | None] = queue.Queue(maxsize=ahead)
    stop = threading.Event()

    def put(value: _Chunk | _ReadFailed | None) -> bool:
        while not stop.is_set():
            try:
                chunks.put(value, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def chunk_of(read: list[Row | RowError]) -> _Chunk:
        refused = collections.deque(item for item in read if type(item) is RowError)
        rows = cast(list[Row], [item for item in read if type(item) is not RowError] if refused else read)
        return _Chunk(rows, copy_text(rows), refused, len(read))

    def read() -> None:
        try:
            chunk: list[Row | RowError] = []
            for item in items:
                chunk.append(item)
                if len(chunk) >= size:
                    if not put(chunk_of(chunk)):
                        return
                    chunk = []
            if put(chunk_of(chunk)):
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
