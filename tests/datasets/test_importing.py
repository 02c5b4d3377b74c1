"""The set-based manifest import (datasets/importing.py): batches, all or nothing, the job, the command."""

import io
import os
from pathlib import Path

import pytest
from django.core.exceptions import ValidationError
from django.core.files import File
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile, TemporaryUploadedFile
from django.core.management import CommandError, call_command
from django.db import IntegrityError, connection, transaction
from django.urls import reverse

from taskboard.datasets import importing, manifest_rows
from taskboard.datasets.models import Dataset, Item
from taskboard.jobs.models import Job, JobState


def csv_manifest(count: int, *, start: int = 0, bad: dict[int, str] | None = None) -> bytes:
    """`count` rows /f{i//1000}/{i}.jpg with a URL and metadata; `bad` replaces whole lines by row index."""
    lines = ["filename,url,metadata"]
    for i in range(start, start + count):
        line = f'/f{i // 1000}/{i:07d}.jpg,https://cdn.example.com/{i}.jpg,"{{""n"": {i}}}"'
        lines.append((bad or {}).get(i, line))
    return ("\n".join(lines) + "\n").encode()


def run(dataset, by, data: bytes, **kwargs):
    return importing.import_manifest(dataset=dataset, source=io.BytesIO(data), by=by, **kwargs)


@pytest.fixture
def small_batches(monkeypatch):
    monkeypatch.setattr(importing, "BATCH_ROWS", 1000)
    monkeypatch.setattr(importing, "SQLITE_ROWS_PER_INSERT", 70)


def test_rows_go_in_batch_by_batch_with_everything_a_row_holds(dataset, manager, small_batches):
    result = run(dataset, manager, csv_manifest(3500))
    assert result == importing.ImportResult(created=3500, skipped=0)
    item = Item.objects.get(dataset=dataset, filename="/f2/0002500.jpg")
    assert (item.dir, item.name, item.url, item.metadata, item.mimetype, item.file.name, item.annotated) == (
        "/f2",
        "0002500.jpg",
        "https://cdn.example.com/2500.jpg",
        {"n": 2500},
        "image/jpeg",
        "",
        False,
    )
    # Ids follow the manifest's order.
    ids = list(Item.objects.filter(dataset=dataset).order_by("pk").values_list("name", flat=True))
    assert ids == sorted(ids)


def test_one_bad_row_among_many_imports_nothing_and_names_the_row(dataset, manager, small_batches):
    # Row 30,002 (the 30,001st item) comes after 30 batches were written: they are rolled back.
    data = csv_manifest(40_000, bad={30_000: "/f30/ok.jpg,ftp://example.com/x.jpg,"})
    with pytest.raises(ValidationError) as exc:
        run(dataset, manager, data)
    assert exc.value.message_dict["file"] == [
        "Row 30002: url must be an http or https address.",
        "Nothing was imported.",
    ]
    assert not Item.objects.filter(dataset=dataset).exists()


def test_a_filename_listed_in_two_batches_names_both_rows(dataset, manager, small_batches):
    data = csv_manifest(2500, bad={2200: "/f0/0000005.jpg,,"})
    with pytest.raises(ValidationError) as exc:
        run(dataset, manager, data)
    assert exc.value.message_dict["file"][0] == "Row 2202: /f0/0000005.jpg is listed twice (first on row 7)."
    assert not Item.objects.filter(dataset=dataset).exists()


def test_reimporting_skips_what_is_there_in_every_batch(dataset, manager, small_batches):
    run(dataset, manager, csv_manifest(1500))
    result = run(dataset, manager, csv_manifest(3000))
    assert result == importing.ImportResult(created=1500, skipped=1500)
    assert Item.objects.filter(dataset=dataset).count() == 3000


@pytest.fixture
def uneven_chunks(monkeypatch, small_batches):
    """Chunks from the reader thread that do not divide a batch: the batches split them."""
    monkeypatch.setattr(importing, "READ_AHEAD_ROWS", 300)


def test_batches_split_the_chunks_they_do_not_fit(dataset, manager, uneven_chunks):
    result = run(dataset, manager, csv_manifest(3500))
    assert result == importing.ImportResult(created=3500, skipped=0)
    ids = list(Item.objects.filter(dataset=dataset).order_by("pk").values_list("name", flat=True))
    assert ids == [f"{i:07d}.jpg" for i in range(3500)]
    data = csv_manifest(2500, start=10_000, bad={12_200: "/f10/0010005.jpg,,"})
    with pytest.raises(ValidationError) as exc:
        run(dataset, manager, data)
    assert exc.value.message_dict["file"][0] == "Row 2202: /f10/0010005.jpg is listed twice (first on row 7)."


def test_repeats_within_a_batch_and_bad_rows_are_all_named_in_order(dataset, manager, uneven_chunks):
    data = csv_manifest(
        2500,
        bad={
            250: "/f0/0000010.jpg,,",  # the same chunk's row 12
            400: "relative.jpg,,",
            650: "/f0/0000010.jpg,,",  # another chunk of the same batch
            1100: "/f0/0000010.jpg,,",  # the next batch: nothing was written, so not found again
            1200: "/f1/0001150.jpg,,",  # a row of that batch
        },
    )
    with pytest.raises(ValidationError) as exc:
        run(dataset, manager, data)
    assert exc.value.message_dict["file"] == [
        "Row 252: /f0/0000010.jpg is listed twice (first on row 12).",
        "Row 402: filename must start with /.",
        "Row 652: /f0/0000010.jpg is listed twice (first on row 12).",
        "Row 1202: /f1/0001150.jpg is listed twice (first on row 1152).",
        "Nothing was imported.",
    ]
    assert not Item.objects.filter(dataset=dataset).exists()


def test_values_copy_escapes_are_stored_as_given(dataset, manager, small_batches):
    # A backslash, a tab and line breaks: COPY's text form spells them with a backslash.
    metadata = '{"note": "a\\"b\\\\c",\t"n":\r\n 1}'
    url = "https://cdn.example.com/a\\b.jpg"
    csv_cell = '"' + metadata.replace('"', '""') + '"'
    lines = csv_manifest(1500).decode().splitlines()
    lines[700] = f"/odd/one.jpg,{url},{csv_cell}"
    run(dataset, manager, ("\n".join(lines) + "\n").encode())
    item = Item.objects.get(dataset=dataset, filename="/odd/one.jpg")
    assert (item.url, item.metadata) == (url, {"note": 'a"b\\c', "n": 1})
    assert Item.objects.filter(dataset=dataset).count() == 1500
    jsonl = b'{"filename": "/j/1.jpg", "metadata": {"text": "line\\nbreak\\ttab \\\\ slash"}}\n'
    run(dataset, manager, jsonl, kind="jsonl")
    assert Item.objects.get(dataset=dataset, filename="/j/1.jpg").metadata == {"text": "line\nbreak\ttab \\ slash"}


def test_metadata_only_the_database_refuses_still_names_the_row(dataset, manager, small_batches):
    # It looks like an object, so the row checks pass it on; the database's JSON parser refuses it.
    data = csv_manifest(1500, bad={1200: '/x.jpg,,"{not: json}"'})
    with pytest.raises(ValidationError) as exc:
        run(dataset, manager, data)
    assert exc.value.message_dict["file"] == ["Row 1202: metadata must be a JSON object.", "Nothing was imported."]
    assert not Item.objects.filter(dataset=dataset).exists()


def test_the_first_problems_are_listed_and_the_rest_counted(dataset, manager, small_batches):
    data = csv_manifest(3000, bad={i: "relative.jpg,," for i in range(100, 3000, 100)})
    with pytest.raises(ValidationError) as exc:
        run(dataset, manager, data)
    messages = exc.value.message_dict["file"]
    assert messages[0] == "Row 102: filename must start with /."
    assert len(messages) == importing.MAX_ERRORS_SHOWN + 1
    assert messages[-1] == "… and 9 more rows with errors. Nothing was imported."


def test_the_row_cap(dataset, manager, settings):
    settings.MANIFEST_MAX_ROWS = 10
    with pytest.raises(ValidationError, match="at most 10 items"):
        run(dataset, manager, csv_manifest(11))
    assert not Item.objects.exists()


def test_progress_counts_rows_read(dataset, manager, small_batches):
    seen = []
    run(dataset, manager, csv_manifest(3500), progress=lambda done, total: seen.append((done, total)))
    assert [done for done, _ in seen] == sorted(done for done, _ in seen)
    assert len(seen) >= 4 and seen[-1] == (3500, 3500)


def test_a_large_manifest_from_the_page_is_a_job_reading_a_stored_copy(
    client, dataset, manager, settings, django_capture_on_commit_callbacks
):
    settings.MANIFEST_JOB_THRESHOLD = 100
    client.force_login(manager)
    upload = SimpleUploadedFile("big.csv", csv_manifest(250))
    with django_capture_on_commit_callbacks(execute=True):
        r = client.post(reverse("annotation:dataset-import", args=[dataset.pk]), {"file": upload})
    job = Job.objects.get(kind="items_import")
    assert r.status_code == 302 and r["Location"] == reverse("jobs:job-detail", args=[job.pk])
    # No broker in tests: the job ran in-process once the request committed.
    assert job.state == JobState.SUCCEEDED, job.error
    assert (job.done, job.total, job.result["created"]) == (250, 250, 250)
    assert Item.objects.filter(dataset=dataset).count() == 250
    assert not default_storage.exists(job.params["path"])
    page = client.get(reverse("jobs:job-detail", args=[job.pk])).content.decode()
    assert "Imported 250 items" in page


def test_a_refused_job_import_leaves_nothing_and_says_which_row(
    client, dataset, manager, settings, django_capture_on_commit_callbacks
):
    settings.MANIFEST_JOB_THRESHOLD = 100
    client.force_login(manager)
    upload = SimpleUploadedFile("big.csv", csv_manifest(250, bad={200: "/a/../b.jpg,,"}))
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("annotation:dataset-import", args=[dataset.pk]), {"file": upload})
    job = Job.objects.get(kind="items_import")
    assert job.state == JobState.FAILED
    assert "Row 202: filename has an empty, '.' or '..' part." in job.error
    assert not Item.objects.filter(dataset=dataset).exists()
    assert not default_storage.exists(job.params["path"])


def test_a_small_manifest_from_the_page_is_imported_in_the_request(client, dataset, manager):
    client.force_login(manager)
    upload = SimpleUploadedFile("small.csv", csv_manifest(20))
    r = client.post(reverse("annotation:dataset-import", args=[dataset.pk]), {"file": upload})
    assert r.status_code == 302 and r["Location"] == reverse("annotation:dataset-browse", args=[dataset.pk])
    assert not Job.objects.exists()
    assert Item.objects.filter(dataset=dataset).count() == 20


def test_an_upload_spooled_to_a_temporary_file_is_read_as_a_stream(dataset, manager):
    upload = TemporaryUploadedFile("m.csv", "text/csv", 0, "utf-8")
    upload.write(csv_manifest(50))
    upload.seek(0)
    result = importing.import_manifest_start(dataset=dataset, file=upload, by=manager).result
    assert result == importing.ImportResult(created=50, skipped=0)


def test_the_import_items_command(tmp_path: Path, dataset, manager, capsys):
    path = tmp_path / "m.csv"
    path.write_bytes(csv_manifest(30))
    call_command("import_items", str(path), dataset=dataset.pk, by=manager.email)
    assert "Imported 30 items" in capsys.readouterr().out
    assert Item.objects.filter(dataset=dataset).count() == 30
    path.write_bytes(csv_manifest(3, bad={1: "nope,,"}))
    with pytest.raises(CommandError, match="Row 3: filename must start with /"):
        call_command("import_items", str(path), dataset=dataset.pk, by=manager.email)


@pytest.mark.heavy
def test_ten_million_rows_import_as_a_job_with_a_progress_bar(tmp_path, dataset, manager, settings):
    """The issue's size: a 10,000,000-row manifest (about 1 GiB) goes in as a job, read from storage,
    its progress moving batch by batch, with memory held to a few batches."""
    import resource

    count = int(os.environ.get("IMPORT_HEAVY_ROWS", "10000000"))  # smaller to try the test itself quickly
    settings.MEDIA_ROOT = tmp_path
    with (tmp_path / "big.csv").open("w") as out:
        out.write("filename,url,metadata\n")
        for i in range(count):
            out.write(f'/f{i // 10_000}/{i:08d}.jpg,https://cdn.example.com/{i}.jpg,"{{""n"": {i % 997}}}"\n')
    with (tmp_path / "big.csv").open("rb") as source:
        start = importing.import_manifest_start(dataset=dataset, file=File(source, name="big.csv"), by=manager)
    assert start.job is not None
    steps: list[tuple[int, int]] = []
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    job = Job.objects.get(pk=start.job.pk)
    result = importing.items_import_job_run(job=job, progress=lambda done, total: steps.append((done, total)))
    grown_mib = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    # What the note quotes (pytest -s shows it).
    print(f"\nimported {result['created']:,} rows; {len(steps)} progress steps, the last {steps[-1]}")
    print(f"the process grew by {grown_mib:.0f} MiB")
    assert result["created"] == count == Item.objects.filter(dataset=dataset).count()
    assert len(steps) >= count // importing.BATCH_ROWS and steps[-1] == (count, count)
    assert [done for done, _ in steps] == sorted(done for done, _ in steps)
    if connection.vendor == "postgresql":  # a SQLite test database lives in this process's memory
        assert grown_mib < 500, f"the import grew the process by {grown_mib:.0f} MiB"


@pytest.mark.heavy
def test_one_bad_row_among_a_million_imports_nothing_and_names_it(dataset, manager):
    data = csv_manifest(1_000_000, bad={876_543: "/f876/bad.jpg,,[1]"})
    with pytest.raises(ValidationError) as exc:
        run(dataset, manager, data)
    assert exc.value.message_dict["file"] == ["Row 876545: metadata must be a JSON object.", "Nothing was imported."]
    assert not Item.objects.filter(dataset=dataset).exists()


@pytest.mark.skipif(connection.vendor != "postgresql", reason="SQLite keeps its foreign key (datasets 0003)")
def test_the_items_dataset_is_checked_once_per_statement(dataset, manager):
    run(dataset, manager, csv_manifest(3))
    with connection.cursor() as cursor:
        missing = (Dataset.objects.order_by("-pk").values_list("pk", flat=True).first() or 0) + 1000
        with pytest.raises(IntegrityError, match="missing dataset"), transaction.atomic():
            cursor.execute(
                "INSERT INTO datasets_item (dataset_id, dir, name, filename, mimetype, url, metadata, file, "
                "annotated, created_at) VALUES (%s, '/', 'x.jpg', '/x.jpg', 'image/jpeg', '', '{}', '', false, now())",
                [missing],
            )
        with pytest.raises(IntegrityError, match="missing dataset"), transaction.atomic():
            cursor.execute("UPDATE datasets_item SET dataset_id = %s WHERE dataset_id = %s", [missing, dataset.pk])
        with pytest.raises(IntegrityError, match="still referenced"), transaction.atomic():
            cursor.execute("DELETE FROM datasets_dataset WHERE id = %s", [dataset.pk])
    assert Item.objects.filter(dataset=dataset).count() == 3
    dataset.delete()  # the ORM deletes the items first
    assert not Item.objects.filter(dataset_id=dataset.pk).exists()


def test_rows_checked_a_chunk_at_a_time_still_name_each_bad_row(dataset, manager, monkeypatch):
    # One search over a chunk's filenames (metadata) finds a problem; then its rows are looked at alone.
    monkeypatch.setattr(manifest_rows, "CHECK_ROWS", 7)
    data = csv_manifest(
        40,
        bad={
            3: "/a/./b.jpg,,",
            9: "/a/b/,,",
            15: '/f0/x.jpg,,"{""n"": NaN}"',
            22: "/f0/short.jpg",  # a row short of the metadata column is fine
            30: '"/f0/two\nlines.jpg",,',
        },
    )
    with pytest.raises(ValidationError) as exc:
        run(dataset, manager, data)
    assert exc.value.message_dict["file"] == [
        "Row 5: filename has an empty, '.' or '..' part.",
        "Row 11: filename has an empty, '.' or '..' part.",
        "Row 17: metadata.n: numbers must be finite (not NaN or Infinity).",
        "Row 32: filename contains a control character or a backslash.",
        "Nothing was imported.",
    ]
