import io
import json

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from PIL import Image

from taskboard.datasets import services
from taskboard.datasets.models import Item
from tests.datasets.helpers import make_task


def manifest(name, text):
    return SimpleUploadedFile(name, text.encode("utf-8") if isinstance(text, str) else text)


def png_bytes(size=(8, 6)):
    buf = io.BytesIO()
    Image.new("RGB", size, (200, 30, 30)).save(buf, "PNG")
    return buf.getvalue()


# ---------------------------------------------------------------- manifests


def test_csv_manifest_creates_items(dataset, manager):
    text = (
        "filename,url,metadata\n"
        '/city/a.jpg,https://example.com/a.jpg,"{""batch"": 1}"\n'
        "/b.png,,\n"
        '/docs/report.pdf,,"{}"\n'
    )
    result = services.items_import_manifest(dataset=dataset, file=manifest("m.csv", text), by=manager)
    assert result == services.ImportResult(created=3, skipped=0)
    a = Item.objects.get(dataset=dataset, filename="/city/a.jpg")
    assert (a.dir, a.name, a.url, a.metadata, a.mimetype) == (
        "/city",
        "a.jpg",
        "https://example.com/a.jpg",
        {"batch": 1},
        "image/jpeg",
    )
    assert Item.objects.get(filename="/b.png").dir == "/"
    assert Item.objects.get(filename="/docs/report.pdf").mimetype == "application/pdf"


def test_jsonl_manifest_with_bom_and_blank_lines(dataset, manager):
    lines = [
        {"filename": "/x/1.jpg", "metadata": {"user": {"city": "Oslo"}}},
        {"filename": "/x/2.jpg", "url": "http://example.com/2.jpg"},
    ]
    text = "\ufeff" + json.dumps(lines[0]) + "\n\n" + json.dumps(lines[1]) + "\n"
    result = services.items_import_manifest(dataset=dataset, file=manifest("m.jsonl", text), by=manager)
    assert result.created == 2
    assert Item.objects.get(filename="/x/1.jpg").metadata == {"user": {"city": "Oslo"}}


def test_existing_filenames_are_skipped(dataset, manager):
    Item.objects.create(dataset=dataset, dir="/x", name="1.jpg")
    text = '{"filename": "/x/1.jpg"}\n{"filename": "/x/2.jpg"}\n'
    result = services.items_import_manifest(dataset=dataset, file=manifest("m.jsonl", text), by=manager)
    assert result == services.ImportResult(created=1, skipped=1)
    assert Item.objects.filter(dataset=dataset).count() == 2


def test_bad_rows_reject_the_whole_file_with_row_numbers(dataset, manager):
    text = (
        "filename,url,metadata\n"
        "/ok.jpg,,\n"
        "relative.jpg,,\n"
        "/a/../b.jpg,,\n"
        "/c.jpg,javascript:alert(1),\n"
        '/d.jpg,,"[1, 2]"\n'
        "/ok.jpg,,\n"
        "/e.jpg,,not json\n"
        "//f.jpg,,\n"
    )
    with pytest.raises(ValidationError) as exc:
        services.items_import_manifest(dataset=dataset, file=manifest("m.csv", text), by=manager)
    messages = exc.value.message_dict["file"]
    assert messages[0].startswith("Row 3:") and "start with /" in messages[0]
    assert any(m.startswith("Row 4:") and ".." in m for m in messages)
    assert any(m.startswith("Row 5:") and "url" in m for m in messages)
    assert any(m.startswith("Row 6:") and "metadata" in m for m in messages)
    assert any(m.startswith("Row 7:") and "first on row 2" in m for m in messages)
    assert any(m.startswith("Row 8:") and "metadata" in m for m in messages)
    assert any(m.startswith("Row 9:") for m in messages)
    assert messages[-1] == "Nothing was imported."
    assert not Item.objects.filter(dataset=dataset).exists()


@pytest.mark.parametrize(
    "name, content, needle",
    [
        ("m.csv", b"\xff\xfe/a.jpg\n", "UTF-8"),
        ("m.csv", "name,url\n/a.jpg,\n", "filename"),
        ("m.csv", "filename,password\n/a.jpg,x\n", "password"),
        ("m.jsonl", '{"filename": "/a.jpg", "creator": "x"}\n', "creator"),
        ("m.jsonl", "[1]\n", "JSON object"),
        ("m.jsonl", "{not json\n", "JSON"),
        ("m.csv", "filename\n", "no items"),
        ("m.jsonl", '{"filename": "/a\\u0000b.jpg"}\n', "control"),
    ],
)
def test_unreadable_manifests_are_refused(dataset, manager, name, content, needle):
    with pytest.raises(ValidationError) as exc:
        services.items_import_manifest(dataset=dataset, file=manifest(name, content), by=manager)
    assert needle in " ".join(exc.value.message_dict["file"])
    assert not Item.objects.exists()


def test_a_json_line_with_a_number_too_long_to_read_is_a_row_error(dataset, manager):
    # Python reads no number of more than 4,300 digits; its ValueError is not a JSONDecodeError.
    text = '{"filename": "/a.jpg"}\n{"filename": "/b.jpg", "metadata": {"n": ' + "1" * 5000 + "}}\n"
    with pytest.raises(ValidationError) as exc:
        services.items_import_manifest(dataset=dataset, file=manifest("m.jsonl", text), by=manager)
    assert exc.value.message_dict["file"][0] == "Row 2: not valid JSON (a number is too long)."
    assert not Item.objects.exists()


def test_manifest_size_limit(dataset, manager, settings):
    settings.MANIFEST_MAX_BYTES = 1024
    text = "filename\n" + "".join(f"/{i:05d}.jpg\n" for i in range(200))
    with pytest.raises(ValidationError, match="larger than"):
        services.items_import_manifest(dataset=dataset, file=manifest("m.csv", text), by=manager)


def test_formula_looking_values_are_stored_as_text(dataset, manager):
    text = 'filename,url,metadata\n"/=HYPERLINK(""x"").jpg",,"{""note"": ""=1+2"", ""at"": ""@SUM(A1)""}"\n'
    services.items_import_manifest(dataset=dataset, file=manifest("m.csv", text), by=manager)
    item = Item.objects.get(dataset=dataset)
    assert item.name == '=HYPERLINK("x").jpg'
    assert item.metadata == {"note": "=1+2", "at": "@SUM(A1)"}


# ---------------------------------------------------------------- uploads


def test_upload_checks_images_by_content(dataset, manager):
    files = [
        SimpleUploadedFile("cat.png", png_bytes(), content_type="image/png"),
        SimpleUploadedFile("page.html", b"<script>alert(1)</script>", content_type="text/html"),
        SimpleUploadedFile("fake.jpg", b"<svg onload=alert(1)>", content_type="image/jpeg"),
        SimpleUploadedFile("logo.svg", b"<svg xmlns='http://www.w3.org/2000/svg'/>", content_type="image/svg+xml"),
    ]
    created = services.items_upload(dataset=dataset, files=files, folder="/up/", by=manager)
    by_name = {i.name: i for i in created}
    assert by_name["cat.png"].mimetype == "image/png" and by_name["cat.png"].file.name.endswith(".png")
    for name in ("page.html", "fake.jpg", "logo.svg"):
        assert by_name[name].mimetype == "application/octet-stream"
        assert by_name[name].file.name.endswith(".bin")
    assert {i.filename for i in Item.objects.filter(dataset=dataset)} == {
        "/up/cat.png",
        "/up/page.html",
        "/up/fake.jpg",
        "/up/logo.svg",
    }


def test_upload_refuses_big_files_and_existing_names(dataset, manager, settings):
    settings.ITEM_UPLOAD_MAX_BYTES = 1024
    Item.objects.create(dataset=dataset, dir="/up", name="old.png")
    files = [
        SimpleUploadedFile("big.bin", b"x" * 2048),
        SimpleUploadedFile("old.png", png_bytes()),
        SimpleUploadedFile("new.png", png_bytes()),
    ]
    with pytest.raises(ValidationError) as exc:
        services.items_upload(dataset=dataset, files=files, folder="/up", by=manager)
    messages = " ".join(exc.value.message_dict["files"])
    assert "big.bin" in messages and "/up/old.png: already" in messages
    assert Item.objects.filter(dataset=dataset).count() == 1


def test_upload_refuses_a_relative_folder(dataset, manager):
    with pytest.raises(ValidationError) as exc:
        files = [SimpleUploadedFile("a.png", png_bytes())]
        services.items_upload(dataset=dataset, files=files, folder="a/..", by=manager)
    assert "folder" in exc.value.message_dict


# ---------------------------------------------------------------- through the pages


def test_import_page_reports_and_redirects(client, manager, dataset):
    client.force_login(manager)
    r = client.post(
        reverse("annotation:dataset-import", args=[dataset.pk]),
        {"file": manifest("m.jsonl", '{"filename": "/a.jpg"}\n')},
    )
    assert r.status_code == 302
    assert Item.objects.filter(dataset=dataset).count() == 1


def test_import_page_shows_row_errors(client, manager, dataset):
    client.force_login(manager)
    r = client.post(
        reverse("annotation:dataset-import", args=[dataset.pk]),
        {"file": manifest("m.csv", "filename\nbad.jpg\n")},
    )
    assert r.status_code == 200
    assert "Row 2:" in r.content.decode()
    assert not Item.objects.exists()


def test_upload_page_and_file_download(client, manager, annotator, other_manager, dataset, recipe):
    client.force_login(manager)
    r = client.post(
        reverse("annotation:dataset-upload", args=[dataset.pk]),
        {"folder": "/up", "files": [SimpleUploadedFile("a.png", png_bytes()), SimpleUploadedFile("x.html", b"<b>")]},
    )
    assert r.status_code == 302
    png = Item.objects.get(name="a.png")
    html = Item.objects.get(name="x.html")
    r = client.get(reverse("annotation:dataset-browse", args=[dataset.pk]))
    assert f'loading="lazy" src="{reverse("datasets:item-file", args=[dataset.pk, png.pk])}"' in r.content.decode()
    r = client.get(reverse("datasets:item-file", args=[dataset.pk, png.pk]))
    assert r["Content-Type"] == "image/png" and "attachment" not in r.get("Content-Disposition", "")
    r = client.get(reverse("datasets:item-file", args=[dataset.pk, html.pk]))
    assert r["Content-Type"] == "application/octet-stream"
    assert r["Content-Disposition"].startswith("attachment")
    assert r["X-Content-Type-Options"] == "nosniff"
    # Annotators fetch only the files of items they hold; outsiders get 404.
    client.force_login(annotator)
    assert client.get(reverse("datasets:item-file", args=[dataset.pk, png.pk])).status_code == 404
    make_task(dataset, recipe, manager, items=[png], assignee=annotator)
    assert client.get(reverse("datasets:item-file", args=[dataset.pk, png.pk])).status_code == 200
    assert client.get(reverse("datasets:item-file", args=[dataset.pk, html.pk])).status_code == 404
    client.force_login(other_manager)
    assert client.get(reverse("datasets:item-file", args=[dataset.pk, png.pk])).status_code == 404
    assert client.post(reverse("annotation:dataset-upload", args=[dataset.pk]), {"folder": "/"}).status_code == 404
