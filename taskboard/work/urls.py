from django.urls import path

from taskboard.work import views, views_discussion

app_name = "work"

urlpatterns = [
    path("", views.my_work, name="my-work"),
    path("next/", views.next_work, name="next-work"),
    path("assignments/<int:assignment_id>/", views.work_view, name="assignment"),
    path("assignments/<int:assignment_id>/more/", views.get_more, name="get-more"),
    path("assignments/<int:assignment_id>/items/<int:task_item_id>/", views.work_view, name="item"),
    path("assignments/<int:assignment_id>/items/<int:task_item_id>/status/", views.item_status, name="item-status"),
    path("assignments/<int:assignment_id>/items/<int:task_item_id>/label/", views.item_label, name="item-label"),
    path("assignments/<int:assignment_id>/items/<int:task_item_id>/reject/", views.item_reject, name="item-reject"),
    path("assignments/<int:assignment_id>/items/<int:task_item_id>/beat/", views.item_beat, name="item-beat"),
    path("tasks/<int:task_id>/items/<int:item_id>/", views_discussion.item_page, name="item-page"),
    path("tasks/<int:task_id>/items/<int:item_id>/comments/", views_discussion.comment_post, name="comment-post"),
    path(
        "tasks/<int:task_id>/items/<int:item_id>/comments/<int:comment_id>/resolve/",
        views_discussion.thread_resolve,
        name="thread-resolve",
    ),
    path("assignments/<int:assignment_id>/items/<int:task_item_id>/skip/", views.item_skip, name="item-skip"),
]
