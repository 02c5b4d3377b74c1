from django.urls import path

from taskboard.datasets import views

app_name = "datasets"

urlpatterns = [
    path("datasets/<int:pk>/items/<int:item_pk>/file/", views.item_file, name="item-file"),
    path("datasets/<int:pk>/items/<int:item_pk>/thumbnail/", views.item_thumbnail, name="item-thumbnail"),
]
