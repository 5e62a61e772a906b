from django.urls import path

from . import compare, views

app_name = "walks"
urlpatterns = [
    path("walk/", views.walk_index, name="index"),
    path("walk/compare/", compare.compare_view, name="compare"),
    path("walk/compare/<slug:token>/", compare.compare_result, name="compare_result"),
    path("walk/<uuid:walk_id>/", views.walk_detail, name="detail"),
    path("walk/<uuid:walk_id>.json", views.walk_json, name="json"),
    path("walk/<uuid:walk_id>.pcapng", views.walk_pcap, name="pcap"),
    path("walk/<uuid:walk_id>/step/<int:seq>/", views.walk_step, name="step"),
    path("walk/<uuid:walk_id>/packets/", views.walk_packets, name="packets"),
    path("lab/try/<int:step_id>/", views.try_step, name="try"),
]
