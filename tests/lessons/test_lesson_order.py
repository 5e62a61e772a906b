"""Every shipped lesson is reachable from the home page in order: each lesson's last step links to
the next lesson of its track, in the home page's (order, slug) order, ties included."""
from __future__ import annotations

from io import StringIO
from itertools import pairwise

import pytest
from django.core.management import call_command

from netlearn.lessons.models import Lesson, Track

pytestmark = pytest.mark.django_db


def test_each_lesson_links_to_the_next_in_home_page_order(client) -> None:
    call_command("seed_content", stdout=StringIO())
    home = client.get("/").content.decode()
    tracks = list(Track.objects.order_by("order"))
    assert len(tracks) >= 2 and Lesson.objects.filter(published=True).count() >= 15  # the shipped course
    for track in tracks:
        lessons = list(Lesson.objects.filter(track=track, published=True).order_by("order", "slug"))
        positions = [home.index(f'href="/lessons/{lesson.slug}/') for lesson in lessons]
        assert positions == sorted(positions), f"{track.slug}: home page order differs"
        for lesson, following in pairwise(lessons):
            last = lesson.steps.count()
            html = client.get(f"/lessons/{lesson.slug}/{last}/").content.decode()
            assert f'rel="next" href="{following.get_absolute_url()}"' in html, (lesson.slug, following.slug)


def test_the_new_lessons_sit_where_they_belong() -> None:
    call_command("seed_content", stdout=StringIO())
    order = {t.slug: [lesson.slug for lesson in Lesson.objects.filter(track=t).order_by("order", "slug")]
             for t in Track.objects.all()}
    path = order["request-path"]
    assert path.index("osi-and-tcp-ip-layers") < path.index("ip-networking") < path.index("tcp-and-udp")
    assert path.index("http-and-https") < path.index("http-and-the-web") < path.index("tls-12-vs-13")
    ops = order["operations"]
    assert ops.index("io-models") + 1 == ops.index("server-side-handling-netty")
