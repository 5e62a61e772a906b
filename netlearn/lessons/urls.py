from __future__ import annotations

from django.urls import path

from . import views

app_name = "lessons"

urlpatterns = [
    path("", views.home, name="home"),
    path("lessons/", views.lesson_list, name="list"),
    path("lessons/_preview/", views.markdown_preview, name="preview"),
    path("lessons/<slug:slug>/", views.lesson_detail, name="lesson"),
    path("lessons/<slug:slug>/<int:number>/", views.step_detail, name="step"),
    path("glossary/", views.glossary_list, name="glossary"),
    path("glossary/<str:term>/", views.glossary_detail, name="term"),
    path("search/", views.search, name="search"),
]
