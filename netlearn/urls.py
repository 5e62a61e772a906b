from django.contrib import admin
from django.urls import include, path

from netlearn.core import views as core_views

urlpatterns = [
    path("healthz", core_views.healthz, name="healthz"),
    path("favicon.ico", core_views.favicon, name="favicon"),
    path("i18n/", include("django.conf.urls.i18n")),
    path("admin/", admin.site.urls),
]

# Apps add their URLs here as they are built (each app owns its urls.py). The most requested first:
# Django tries each app's list in turn, and an app whose list does not match a path costs a list of
# everything tried (lesson step pages are most of a class's requests, question pages next). No two
# apps' patterns match the same path (tests/core/test_urls_order.py), so the order changes no answer.
for _module in ("netlearn.lessons.urls", "netlearn.quizzes.urls", "netlearn.walks.urls", "netlearn.accounts.urls",
                "netlearn.classroom.urls"):
    try:
        __import__(_module)
    except ModuleNotFoundError:
        continue
    urlpatterns.append(path("", include(_module)))

handler404 = "netlearn.core.errors.not_found"
# 507 with a friendly page when the disk is full (also for errors raised in middleware), else a friendly 500;
# 400 too: a session that cannot be updated on a full disk surfaces as SessionInterrupted (a 400).
handler400 = "netlearn.core.errors.bad_request"
handler500 = "netlearn.core.errors.server_error"
