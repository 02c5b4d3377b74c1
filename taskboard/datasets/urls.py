from django.urls import path

from taskboard.datasets import views

app_name = "datasets"

urlpatterns = [
    path("<int:pk>/", views.browse, name="browse"),
    path("<int:pk>/to-task/", views.to_wizard, name="to-wizard"),
    path("<int:pk>/upload/", views.upload, name="upload"),
    path("<int:pk>/import/", views.import_manifest, name="import"),
    path("<int:pk>/items/<int:item_pk>/file/", views.item_file, name="item-file"),
]
