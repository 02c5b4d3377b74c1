"""Folders of a dataset's items: a folder is an item's `dir`, an absolute path such as /city/day."""

from django.core.exceptions import ValidationError
from django.db.models import Q
from django.db.models.functions import Left
from django.db.models.lookups import Exact


def _selection_error(message: str) -> ValidationError:
    return ValidationError({"selection": message})


def normalize_folder(folder: str | None) -> str:
    """An absolute `dir`: "/a/b/" becomes "/a/b", "" becomes "/"; relative paths and ".." are refused."""
    text = (folder or "").strip()
    if not text:
        return "/"
    if not text.startswith("/") or "\x00" in text or len(text) > 1000:
        raise _selection_error(f"Folder {text[:100]!r} must be an absolute path such as /city/day.")
    parts = [p for p in text.split("/") if p]
    if any(p in (".", "..") for p in parts):
        raise _selection_error("A folder cannot contain '.' or '..'.")
    return "/" + "/".join(parts)


def folder_q(folder: str, include_subfolders: bool) -> Q:
    folder = normalize_folder(folder)
    if not include_subfolders:
        return Q(dir=folder)
    if folder == "/":
        return Q()
    # "/a" + "/" so that "/ab" is not taken for a subfolder of "/a".
    return Q(dir=folder) | prefix_q("dir", folder + "/")


def prefix_q(column: str, prefix: str) -> Q:
    """`column` starts with `prefix`, case-sensitively on every database.

    SQLite's LIKE ignores ASCII case, so "/City/" would match "/city/x": the LIKE keeps
    PostgreSQL's index scan and the LEFT() comparison makes the match exact.
    """
    return Q(**{f"{column}__startswith": prefix}) & Q(Exact(Left(column, len(prefix)), prefix))
