"""Which items of a dataset a task (or an action on a task) works on.

A `Selection` is what the wizard, the task page's forms and the API hand to the services;
`select_items` turns it into a queryset through the DQL allow-list, never raw user input.
"""

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Mode = Literal["folder", "annotated", "task_status", "unassigned", "list", "all", "filter"]


@dataclass(frozen=True)
class Selection:
    mode: Mode
    # folder
    folder: str | None = None
    include_subfolders: bool = True
    # annotated: True / False
    annotated: bool | None = None
    # task_status: items of `task_id` with `task_status` ("any" = any status, "none" = no status)
    task_id: int | None = None
    task_status: str | None = None
    # list: ids and/or filenames of this dataset
    item_ids: tuple[int, ...] = ()
    filenames: tuple[str, ...] = ()
    # filter: a Dataloop DQL filter (the "filter" part: {"$and": [...], "$or": [...]})
    dql: dict[str, Any] | None = field(default=None, hash=False)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["item_ids"] = list(self.item_ids)
        data["filenames"] = list(self.filenames)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "Selection":
        data = dict(data)
        data["item_ids"] = tuple(data.get("item_ids") or ())
        data["filenames"] = tuple(data.get("filenames") or ())
        return cls(**data)
