"""The pipeline list and the grid editor. Function views: query, then service, then render or redirect.

Every write is a POST that redirects without htmx; with htmx it answers the editor fragment.
"""

from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from taskboard.accounts.http import AuthedHttpRequest
from taskboard.inputs import parse_pk
from taskboard.pipelines import editing, queries, running
from taskboard.pipelines.forms import ConnectionForm, NodeForm, PipelineForm, RunForm
from taskboard.pipelines.models import NodeKind, PipelineState
from taskboard.projects import queries as project_queries
from taskboard.projects.models import Project

CELL_W, CELL_H = 300, 150
NODE_W, NODE_H = 200, 104
PAD = 24


def _add_errors(form, error: ValidationError) -> None:
    for field, messages in error.message_dict.items():
        for message in messages:
            if field in form.fields:
                form.add_error(field, message)
            else:
                label = field.replace("_", " ").capitalize()
                form.add_error(None, f"{label}: {message}")


def _grid(nodes, connections, counts, failed=None) -> dict:
    """Positions in pixels for the SVG: nodes on their cells, connections as curves with labels."""
    failed = failed or {}
    boxes = {}
    for node in nodes:
        x, y = PAD + max(node.column, 0) * CELL_W, PAD + max(node.row, 0) * CELL_H
        boxes[node.pk] = {"node": node, "x": x, "y": y, "counts": counts.get(node.pk), "failed": failed.get(node.pk)}
    arrows = []
    for c in connections:
        s, t = boxes.get(c.source_id), boxes.get(c.target_id)
        if s is None or t is None:
            continue
        if t["x"] > s["x"]:
            x1, y1 = s["x"] + NODE_W, s["y"] + NODE_H / 2
            x2, y2 = t["x"] - 6, t["y"] + NODE_H / 2
            bend = max((x2 - x1) / 2, 40)
            c1, c2 = (x1 + bend, y1), (x2 - bend, y2)
        else:
            # Backwards or a loop: leave and enter by the bottom edge, bending below.
            x1, y1 = s["x"] + NODE_W * 0.35, s["y"] + NODE_H
            x2, y2 = t["x"] + NODE_W * 0.65, t["y"] + NODE_H + 6
            drop = 60 + abs(x1 - x2) * 0.1
            c1, c2 = (x1, y1 + drop), (x2, y2 + drop)
        label_x = (x1 + 3 * c1[0] + 3 * c2[0] + x2) / 8
        label_y = (y1 + 3 * c1[1] + 3 * c2[1] + y2) / 8
        arrows.append(
            {
                "connection": c,
                "d": f"M {x1:.1f} {y1:.1f} C {c1[0]:.1f} {c1[1]:.1f}, {c2[0]:.1f} {c2[1]:.1f}, {x2:.1f} {y2:.1f}",
                "label": c.status or "items",
                "label_x": label_x,
                "label_y": label_y - 6,
            }
        )
    width = PAD * 2 + (max((n.column for n in nodes), default=0) + 1) * CELL_W
    back = any(a["connection"].source.column >= a["connection"].target.column for a in arrows)
    # Room below the lowest row for backward (rework) curves.
    height = PAD * 2 + max((n.row for n in nodes), default=0) * CELL_H + NODE_H + (90 if back else 10)
    return {
        "boxes": list(boxes.values()),
        "arrows": arrows,
        "width": width,
        "height": height,
        "node_w": NODE_W,
        "node_h": NODE_H,
    }


def _editor(request: AuthedHttpRequest, pipeline, *, status=200, **forms):
    pipeline.refresh_from_db()
    nodes = list(
        pipeline.nodes.select_related("dataset", "recipe", "owner", "task").prefetch_related("workload__assignee")
    )
    connections = list(pipeline.connections.select_related("source", "target"))
    counts = queries.node_counts(nodes)
    failed_steps = queries.failed_steps(pipeline)
    failed_into: dict[int, int] = {}
    for step in failed_steps:
        failed_into[step.to_node_id] = failed_into.get(step.to_node_id, 0) + 1
    for node in nodes:
        node.counts = counts.get(node.pk)
        node.failed = failed_into.get(node.pk, 0)
    edit_node = forms.get("edit_node")
    node_id = parse_pk(request.GET.get("node", ""))
    if edit_node is None and node_id is not None:
        edit_node = next((n for n in nodes if n.pk == node_id), None)
    edit_form = forms.get("edit_form")
    if edit_node is not None and edit_form is None:
        edit_form = NodeForm(project=pipeline.project, initial=NodeForm.initial_for(edit_node), prefix="edit")
    free_column = max((n.column for n in nodes), default=-1) + 1
    context = {
        "pipeline": pipeline,
        "nodes": nodes,
        "connections": connections,
        "grid": _grid(nodes, connections, counts, failed_into),
        "failed_steps": failed_steps,
        "node_form": forms.get("node_form")
        or NodeForm(
            project=pipeline.project,
            initial={
                "kind": NodeKind.ANNOTATION if nodes else NodeKind.DATASET,
                "column": free_column,
                "row": 0,
                "priority": 2,
            },
            prefix="add",
        ),
        "edit_node": edit_node,
        "edit_form": edit_form,
        "connection_form": forms.get("connection_form") or ConnectionForm(pipeline=pipeline),
        "run_form": forms.get("run_form") or RunForm(),
        "action_errors": forms.get("action_errors") or {},
        "notice": forms.get("notice", ""),
        "run_jobs": queries.run_jobs(pipeline),
        "problems": running.pipeline_problems(pipeline) if pipeline.state != PipelineState.INSTALLED else {},
        "polling": pipeline.state == PipelineState.INSTALLED,
    }
    template = "pipelines/pipeline_detail.html"
    if request.htmx:
        template += "#grid" if request.GET.get("fragment") == "grid" else "#editor"
    return render(request, template, context, status=status)


def _done(request: AuthedHttpRequest, pipeline, notice: str = "", node=None):
    if request.htmx:
        return _editor(request, pipeline, notice=notice)
    url = reverse("pipelines:detail", args=[pipeline.pk])
    return redirect(f"{url}?node={node.pk}" if node is not None else url)


@login_required
def pipeline_list(request: AuthedHttpRequest):
    project_id = request.GET.get("project")
    project = project_queries.project_for_manager(request.user, project_id) if project_id else None
    form = PipelineForm()
    if request.method == "POST":
        if project is None:
            return redirect("pipelines:list")
        form = PipelineForm(request.POST)
        if form.is_valid():
            try:
                pipeline = editing.pipeline_create(
                    project=project,
                    name=form.cleaned_data["name"],
                    description=form.cleaned_data["description"],
                    by=request.user,
                )
            except ValidationError as e:
                _add_errors(form, e)
            else:
                return redirect("pipelines:detail", pipeline.pk)
    return render(
        request,
        "pipelines/pipeline_list.html",
        {
            "project": project,
            "projects": Project.objects.managed_by(request.user).order_by("name"),
            "pipelines": queries.pipelines_for_manager(request.user, project),
            "form": form,
        },
    )


@login_required
def pipeline_detail(request: AuthedHttpRequest, pk: int):
    pipeline = queries.pipeline_for_manager(request.user, pk)
    return _editor(request, pipeline)


@login_required
@require_POST
def node_add(request: AuthedHttpRequest, pk: int):
    pipeline = queries.pipeline_for_manager(request.user, pk)
    form = NodeForm(request.POST, project=pipeline.project, prefix="add")
    if form.is_valid():
        try:
            node = editing.node_add(pipeline=pipeline, by=request.user, **form.service_kwargs())
        except ValidationError as e:
            _add_errors(form, e)
        else:
            return _done(request, pipeline, notice=f"Added {node.name}.")
    return _editor(request, pipeline, node_form=form)


@login_required
@require_POST
def node_edit(request: AuthedHttpRequest, pk: int, node_pk: int):
    pipeline = queries.pipeline_for_manager(request.user, pk)
    node = queries.node_of(pipeline, node_pk)
    form = NodeForm(request.POST, project=pipeline.project, prefix="edit")
    if form.is_valid():
        try:
            editing.node_update(node=node, by=request.user, **form.service_kwargs())
        except ValidationError as e:
            _add_errors(form, e)
        else:
            return _done(request, pipeline, notice=f"Saved {node.name}.", node=node)
    return _editor(request, pipeline, edit_node=node, edit_form=form)


@login_required
@require_POST
def node_delete(request: AuthedHttpRequest, pk: int, node_pk: int):
    pipeline = queries.pipeline_for_manager(request.user, pk)
    node = queries.node_of(pipeline, node_pk)
    try:
        editing.node_delete(node=node, by=request.user)
    except ValidationError as e:
        return _editor(request, pipeline, action_errors=e.message_dict)
    return _done(request, pipeline, notice=f"Deleted {node.name}.")


@login_required
@require_POST
def connection_add(request: AuthedHttpRequest, pk: int):
    pipeline = queries.pipeline_for_manager(request.user, pk)
    form = ConnectionForm(request.POST, pipeline=pipeline)
    if form.is_valid():
        try:
            editing.connection_add(pipeline=pipeline, by=request.user, **form.cleaned_data)
        except ValidationError as e:
            _add_errors(form, e)
        else:
            return _done(request, pipeline, notice="Connected.")
    return _editor(request, pipeline, connection_form=form)


@login_required
@require_POST
def connection_delete(request: AuthedHttpRequest, pk: int, connection_pk: int):
    pipeline = queries.pipeline_for_manager(request.user, pk)
    connection = queries.connection_of(pipeline, connection_pk)
    try:
        editing.connection_delete(connection=connection, by=request.user)
    except ValidationError as e:
        return _editor(request, pipeline, action_errors=e.message_dict)
    return _done(request, pipeline, notice="Connection deleted.")


@login_required
@require_POST
def pipeline_install(request: AuthedHttpRequest, pk: int):
    pipeline = queries.pipeline_for_manager(request.user, pk)
    try:
        running.pipeline_install(pipeline=pipeline, by=request.user)
    except ValidationError as e:
        return _editor(request, pipeline, action_errors=e.message_dict)
    return _done(request, pipeline, notice="Installed: items move as they get statuses.")


@login_required
@require_POST
def pipeline_pause(request: AuthedHttpRequest, pk: int):
    pipeline = queries.pipeline_for_manager(request.user, pk)
    try:
        running.pipeline_pause(pipeline=pipeline, by=request.user)
    except ValidationError as e:
        return _editor(request, pipeline, action_errors=e.message_dict)
    return _done(request, pipeline, notice="Paused: nothing moves until you install it again.")


@login_required
@require_POST
def pipeline_delete(request: AuthedHttpRequest, pk: int):
    pipeline = queries.pipeline_for_manager(request.user, pk)
    project_id = pipeline.project_id
    try:
        editing.pipeline_delete(pipeline=pipeline, by=request.user)
    except ValidationError as e:
        return _editor(request, pipeline, action_errors=e.message_dict)
    url = reverse("pipelines:list") + f"?project={project_id}"
    if request.htmx:
        response = HttpResponse(status=204)
        response["HX-Redirect"] = url
        return response
    return redirect(url)


@login_required
@require_POST
def pipeline_run(request: AuthedHttpRequest, pk: int):
    pipeline = queries.pipeline_for_manager(request.user, pk)
    form = RunForm(request.POST)
    if form.is_valid():
        try:
            result = running.pipeline_run(pipeline=pipeline, selection=form.selection(), by=request.user)
        except ValidationError as e:
            _add_errors(form, e)
        else:
            if result.job is not None:
                notice = f"{result.entering} items are entering the pipeline; the progress is below."
            else:
                notice = f"{result.added} items entered the pipeline"
            if result.skipped:
                notice = notice.rstrip(".") + f"; {result.skipped} were already in."
            elif result.job is None:
                notice += "."
            return _done(request, pipeline, notice=notice)
    return _editor(request, pipeline, run_form=form)


@login_required
@require_POST
def pipeline_retry(request: AuthedHttpRequest, pk: int):
    pipeline = queries.pipeline_for_manager(request.user, pk)
    try:
        failed = running.pipeline_retry(pipeline=pipeline, by=request.user)
    except ValidationError as e:
        return _editor(request, pipeline, action_errors=e.message_dict)
    if failed:
        steps = f"{failed} failed step{'s' if failed != 1 else ''}"
        notice = f"Retrying {steps}: what can move now moves once; what still fails stays listed with its reason."
    else:
        notice = "Nothing had failed; everything waiting is routed again."
    return _done(request, pipeline, notice=notice)
