"""Snapshots of the rows an attack could change, to compare before and after a request."""

from django.apps import apps

# Every model of ours, bar the append-only logs a read may legitimately write (tokens' last_used,
# active-time heartbeats are refused to outsiders anyway and would show up here).
APPS = ["accounts", "projects", "datasets", "annotation", "pipelines", "jobs", "work", "api"]
VOLATILE = {"last_used", "last_login", "updated_at"}


def snapshot() -> dict:
    state = {}
    for label in APPS:
        for model in apps.get_app_config(label).get_models():
            rows = []
            for row in model.objects.order_by("pk").values():
                rows.append(tuple(sorted((k, repr(v)) for k, v in row.items() if k not in VOLATILE)))
            state[model._meta.label] = rows
    return state


def diff(before: dict, after: dict) -> list[str]:
    changed = []
    for label in before:
        if before[label] != after.get(label):
            added = len(after.get(label, [])) - len(before[label])
            changed.append(f"{label} ({'+' if added >= 0 else ''}{added} rows)")
    return changed


def count_rows() -> dict:
    return {label: len(rows) for label, rows in snapshot().items()}
