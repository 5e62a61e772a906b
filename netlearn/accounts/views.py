"""Sign up and the progress dashboard; log in/out and passwords use Django's own views.

Anonymous progress is merged into the account by the quizzes app, which listens for
``user_logged_in``; signing up logs the new user in, so it is merged the same way.
"""
from __future__ import annotations

from django.contrib.auth import login
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_http_methods

from netlearn.quizzes import selectors
from netlearn.quizzes.learner import learner_for

from .charts import answers_chart
from .forms import SignUpForm


@require_http_methods(["GET", "POST"])
def signup(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        return redirect("accounts:progress")
    next_url = request.POST.get("next") or request.GET.get("next") or ""
    if not url_has_allowed_host_and_scheme(next_url, allowed_hosts={request.get_host()}):
        next_url = ""
    form = SignUpForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = form.save()
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        return redirect(next_url or "accounts:progress")
    return render(request, "registration/signup.html", {"form": form, "next": next_url})


def progress(request: HttpRequest) -> HttpResponse:
    """Open to anonymous learners too: their progress lives in the session until they sign up."""
    learner = learner_for(request)
    days = selectors.answers_by_day(learner, days=30)
    return render(request, "accounts/progress.html", {
        "totals": selectors.totals(learner),
        "mastery": selectors.topic_mastery(learner),
        "chart": answers_chart(days),
        "days": days,
        "recent": selectors.recent_attempts(learner, limit=15),
        "due_count": selectors.due_reviews(learner).count(),
        "mocks": selectors.learner_mocks(learner)[:5],
    })
