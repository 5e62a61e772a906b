from django.urls import path

from . import views

app_name = "walks"
urlpatterns = [
    path("walk/", views.walk_index, name="index"),
    path("walk/<uuid:walk_id>/", views.walk_detail, name="detail"),
    path("walk/<uuid:walk_id>.json", views.walk_json, name="json"),
    path("walk/<uuid:walk_id>/step/<int:seq>/", views.walk_step, name="step"),
]
