"""Permission-scoped reads of datasets and items.

Access is the policy's (`taskboard.projects.access`): the item browser is for owners and managers,
so annotators, reviewers and strangers get 404 there.
"""

from collections.abc import Iterator
from dataclasses import dataclass, field

from django.db.models import Count, Q, QuerySet

from taskboard.datasets.models import Dataset, Item
from taskboard.inputs import parse_pk
from taskboard.projects.access import AnyUser, get_or_404
from taskboard.projects.models import Project

PAGE_SIZE = 50


def dataset_for_manager(user: AnyUser, pk: object) -> Dataset:
    """A dataset of a project the user owns or manages (the item browser, upload, import); else 404."""
    return get_or_404(Dataset.objects.managed_by(user).select_related("project"), pk, "dataset")


def datasets_of_project(project: Project) -> QuerySet[Dataset]:
    """The project's datasets with their item counts (the caller has checked membership)."""
    return Dataset.objects.filter(project=project).annotate(item_count=Count("items")).order_by("name")


def item_for_viewer(user: AnyUser, dataset_pk: object, item_pk: object) -> Item:
    """An item the user may see (managers: any of their datasets; others: what their work holds); else 404."""
    items = Item.objects.visible_to(user)
    dataset_id = parse_pk(dataset_pk)
    items = items.filter(dataset_id=dataset_id) if dataset_id is not None else items.none()
    return get_or_404(items, item_pk, "item")


# ---------------------------------------------------------------- folder tree


def dataset_folders(dataset: Dataset, *, limit: int = 500) -> list[str]:
    """Folders of a dataset with their parents, for the folder pickers (capped: a hint, not a listing)."""
    folders: set[str] = set()
    for path in Item.objects.filter(dataset=dataset).order_by("dir").values_list("dir", flat=True).distinct()[:limit]:
        parts = path.strip("/").split("/") if path != "/" else []
        for i in range(len(parts) + 1):
            folders.add("/" + "/".join(parts[:i]))
    return sorted(folders)


@dataclass
class Folder:
    path: str
    name: str
    depth: int
    own: int = 0  # items directly in this folder
    total: int = 0  # items here and in every subfolder
    children: list["Folder"] = field(default_factory=list)

    def walk(self) -> Iterator["Folder"]:
        """This folder and all below it, depth first, children by name: the tree as rows."""
        yield self
        for child in self.children:
            yield from child.walk()


def folder_tree(dataset: Dataset) -> Folder:
    """The dataset's folders with item counts: one GROUP BY dir query, the tree built here.

    Folders that hold no items themselves but have subfolders with items appear too
    (their `own` is 0), so the tree has no gaps.
    """
    counts = dict(
        Item.objects.filter(dataset=dataset).order_by().values("dir").annotate(n=Count("id")).values_list("dir", "n")
    )
    root = Folder(path="/", name="/", depth=0)
    nodes = {"/": root}
    for dir_ in sorted(counts):
        path = ""
        parent = root
        for depth, part in enumerate((p for p in dir_.split("/") if p), start=1):
            path = f"{path}/{part}"
            node = nodes.get(path)
            if node is None:
                node = nodes[path] = Folder(path=path, name=part, depth=depth)
                parent.children.append(node)
            parent = node
    for dir_, n in counts.items():
        key = "/" + "/".join(p for p in dir_.split("/") if p)
        nodes[key].own += n
    _sum_totals(root)
    for node in nodes.values():
        node.children.sort(key=lambda f: f.name)
    return root


def _sum_totals(node: Folder) -> int:
    node.total = node.own + sum(_sum_totals(child) for child in node.children)
    return node.total


# ---------------------------------------------------------------- item pages


ORDER = ("dir", "name", "id")


@dataclass
class ItemPage:
    items: list[Item]
    total: int
    start: int  # 1-based position of the first item, 0 when empty
    next_after: int | None
    prev_before: int | None

    @property
    def end(self) -> int:
        return self.start + len(self.items) - 1 if self.items else 0


def _after(item: Item) -> Q:
    return Q(dir__gt=item.dir) | Q(dir=item.dir, name__gt=item.name) | Q(dir=item.dir, name=item.name, id__gt=item.pk)


def _before(item: Item) -> Q:
    return Q(dir__lt=item.dir) | Q(dir=item.dir, name__lt=item.name) | Q(dir=item.dir, name=item.name, id__lt=item.pk)


def items_page(
    items: QuerySet[Item], *, after: int | None = None, before: int | None = None, size: int = PAGE_SIZE
) -> ItemPage:
    """One page of `items` in (dir, name, id) order, by keyset: `after`/`before` an item id.

    The cursor item is looked up among `items`, so a stale or foreign id starts from the top.
    """
    items = items.order_by()
    total = items.count()
    cursor = None
    pk = after if after is not None else before
    if pk is not None:
        cursor = items.filter(pk=pk).only("id", "dir", "name").first()
    if cursor is not None and before is not None and after is None:
        rows = list(items.filter(_before(cursor)).order_by("-dir", "-name", "-id")[: size + 1])
        has_prev = len(rows) > size
        rows = rows[:size][::-1]
        has_next = True
    else:
        qs = items.filter(_after(cursor)) if cursor is not None else items
        rows = list(qs.order_by(*ORDER)[: size + 1])
        has_next = len(rows) > size
        rows = rows[:size]
        has_prev = cursor is not None
    start = 0
    if rows:
        start = items.filter(_before(rows[0])).count() + 1 if (has_prev or cursor is not None) else 1
        has_prev = start > 1
    return ItemPage(
        items=rows,
        total=total,
        start=start,
        next_after=rows[-1].pk if rows and has_next else None,
        prev_before=rows[0].pk if rows and has_prev else None,
    )
