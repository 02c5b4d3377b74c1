"""/api/v1/: Dataloop's REST routes, without trailing slashes (dtlpy never sends one)."""

from django.urls import path, re_path

from taskboard.api import (
    views_auth,
    views_comments,
    views_distribution,
    views_misc,
    views_pipelines,
    views_projects,
    views_quality,
    views_tasks,
)

app_name = "api"

urlpatterns = [
    path("users/me", views_auth.users_me, name="users-me"),
    path("projects/<path:name>/name", views_projects.project_by_name, name="project-by-name"),
    path("projects/<str:project_id>/people", views_distribution.project_people, name="project-people"),
    path("projects/<str:project_id>/operations", views_distribution.project_operations, name="project-operations"),
    path(
        "projects/<str:project_id>/people/<str:lever>",
        views_distribution.project_people_lever,
        name="project-people-lever",
    ),
    path("projects/<str:project_id>", views_projects.project_detail, name="project-detail"),
    path("datasets/query", views_projects.dataset_query, name="dataset-query"),
    path("datasets/<str:dataset_id>", views_projects.dataset_detail, name="dataset-detail"),
    path("datasets/<str:dataset_id>/query", views_projects.item_query, name="item-query"),
    path("datasets/<str:dataset_id>/items", views_projects.item_upload, name="item-upload"),
    # Taskboard's extension (docs/api.md): many items in one request, through the manifest import.
    path("datasets/<str:dataset_id>/items/import", views_projects.item_import, name="item-import"),
    path("items/<str:item_id>", views_projects.item_detail, name="item-detail"),
    path("items/<str:item_id>/stream", views_projects.item_stream, name="item-stream"),
    path("annotationtasks", views_tasks.task_collection, name="task-collection"),
    path("annotationtasks/query", views_tasks.task_query, name="task-query"),
    path("annotationtasks/<str:task_id>", views_tasks.task_detail, name="task-detail"),
    path("annotationtasks/<str:task_id>/quality", views_quality.task_quality, name="task-quality"),
    path("annotationtasks/<str:task_id>/addToTask", views_tasks.task_add_items, name="task-add-items"),
    path(
        "annotationtasks/<str:task_id>/items/<str:item_id>/comments",
        views_comments.item_comments,
        name="item-comments",
    ),
    path(
        "annotationtasks/<str:task_id>/items/<str:item_id>/comments/<int:comment_id>/resolve",
        views_comments.comment_resolve,
        name="comment-resolve",
    ),
    path("annotationtasks/<str:task_id>/removeFromTask", views_tasks.task_remove_items, name="task-remove-items"),
    # Taskboard's extensions (docs/api.md): distribution control.
    path("annotationtasks/<str:task_id>/leases", views_distribution.task_leases, name="task-leases"),
    path(
        "annotationtasks/<str:task_id>/leases/release",
        views_distribution.task_leases_release,
        name="task-leases-release",
    ),
    path("annotationtasks/<str:task_id>/priority", views_distribution.task_items_priority, name="task-priority"),
    path("annotationtasks/<str:task_id>/statuses", views_distribution.task_items_status, name="task-statuses"),
    path("annotationtasks/<str:task_id>/caps", views_distribution.task_caps, name="task-caps"),
    path("annotationtasks/<str:task_id>/skips", views_distribution.task_skips, name="task-skips"),
    path("annotationtasks/<str:task_id>/stuck", views_distribution.task_stuck, name="task-stuck"),
    path("annotationtasks/<str:task_id>/stuck/sweep", views_distribution.task_stuck_sweep, name="task-stuck-sweep"),
    path("pulling/next", views_distribution.pull_next, name="pull-next"),
    path("operations/<str:operation_id>/undo", views_distribution.operation_undo, name="operation-undo"),
    path("assignments", views_tasks.assignment_list, name="assignment-list"),
    path("assignments/items/tasks/<str:task_id>/status", views_tasks.task_items_status, name="task-items-status"),
    path("assignments/<str:assignment_id>", views_tasks.assignment_detail, name="assignment-detail"),
    path("assignments/<str:assignment_id>/reassign", views_tasks.assignment_reassign, name="assignment-reassign"),
    path(
        "assignments/<str:assignment_id>/redistribute",
        views_tasks.assignment_redistribute,
        name="assignment-redistribute",
    ),
    path(
        "assignments/<str:assignment_id>/items/<str:item_id>/status",
        views_tasks.assignment_item_status,
        name="assignment-item-status",
    ),
    path(
        "assignments/<str:assignment_id>/items/<str:item_id>/skip",
        views_distribution.assignment_item_skip,
        name="assignment-item-skip",
    ),
    path("commands/<str:command_id>", views_tasks.command_detail, name="command-detail"),
    path("pipelines", views_pipelines.pipeline_collection, name="pipeline-collection"),
    path("pipelines/query", views_pipelines.pipeline_query, name="pipeline-query"),
    path("pipelines/<str:pipeline_id>", views_pipelines.pipeline_detail, name="pipeline-detail"),
    path("pipelines/<str:pipeline_id>/install", views_pipelines.pipeline_install, name="pipeline-install"),
    path("pipelines/<str:pipeline_id>/uninstall", views_pipelines.pipeline_uninstall, name="pipeline-uninstall"),
    path("pipelines/<str:pipeline_id>/execute", views_pipelines.pipeline_execute, name="pipeline-execute"),
    # Anything else under /api/v1 is a JSON 404 (and never an APPEND_SLASH redirect).
    re_path(r"^.*$", views_misc.unknown_route, name="unknown"),
]
