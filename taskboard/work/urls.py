from django.urls import path

from taskboard.work import views

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
    path("assignments/<int:assignment_id>/items/<int:task_item_id>/skip/", views.item_skip, name="item-skip"),
]
