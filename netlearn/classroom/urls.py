from django.urls import path

from . import views

app_name = "classroom"
urlpatterns = [
    path("teach/", views.teach_index, name="teach"),
    path("teach/<str:code>/", views.console, name="console"),
    path("teach/<str:code>/report/", views.report, name="report"),
    path("teach/<str:code>/report.csv", views.report_csv, name="report_csv"),
    path("join/", views.join, name="join"),
    path("join/<str:code>/", views.live, name="live"),
]
