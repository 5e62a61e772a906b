from __future__ import annotations

from django.urls import path

from . import views, views_mock

app_name = "quizzes"

urlpatterns = [
    path("quizzes/", views.index, name="index"),
    path("quizzes/practice/", views.practice, name="practice"),
    path("quizzes/topic/<slug:slug>/", views.topic_practice, name="topic"),
    path("quizzes/q/<slug:key>/", views.question_detail, name="question"),
    path("quizzes/q/<slug:key>/answer/", views.answer, name="answer"),
    path("quizzes/q/<slug:key>/reveal/", views.reveal, name="reveal"),
    path("quizzes/<slug:slug>/", views.quiz_detail, name="quiz"),
    path("review/", views.review_queue, name="review"),
    path("mock/", views_mock.mock_home, name="mock_home"),
    path("mock/start/", views_mock.mock_begin, name="mock_start"),
    path("mock/<int:pk>/", views_mock.mock_detail, name="mock"),
    path("mock/<int:pk>/answer/", views_mock.mock_answer_view, name="mock_answer"),
    path("mock/<int:pk>/pass/", views_mock.mock_pass_view, name="mock_pass"),
    path("mock/<int:pk>/finish/", views_mock.mock_finish_view, name="mock_finish"),
]
