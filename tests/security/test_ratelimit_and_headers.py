"""Rate limits answer a friendly 429; responses carry a strict CSP; `next=` never leaves the site."""
from __future__ import annotations

import pytest
from django.core.cache import cache

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_counters():
    cache.clear()
    yield
    cache.clear()


def test_walk_creation_is_limited_per_learner_with_a_friendly_429(client, settings):
    settings.NETLEARN_RATE_LIMITS = {"walks:index": (3, 60)}
    client.get("/walk/")  # a session, as a browser has
    statuses = [client.post("/walk/", {"url": "http://203.0.113.9/"}).status_code for _ in range(5)]
    assert statuses[:3] != [429] * 3 and statuses[3:] == [429, 429]
    refused = client.post("/walk/", {"url": "http://203.0.113.9/"})
    assert int(refused["Retry-After"]) >= 1
    assert "429" in refused.content.decode() and "<html" in refused.content.decode()
    assert client.get("/walk/").status_code == 200  # reading stays free


def test_another_learner_has_their_own_budget(client, settings, django_user_model):
    settings.NETLEARN_RATE_LIMITS = {"walks:index": (1, 60)}
    client.get("/walk/")
    client.post("/walk/", {"url": "http://203.0.113.9/"})
    assert client.post("/walk/", {"url": "http://203.0.113.9/"}).status_code == 429
    other = client.__class__()
    other.force_login(django_user_model.objects.create_user("bo", password="pw-bo-12345"))
    assert other.post("/walk/", {"url": "http://203.0.113.9/"}).status_code != 429


def test_pages_carry_a_nonce_based_content_security_policy(client):
    response = client.get("/")
    policy = response["Content-Security-Policy"]
    assert "script-src 'self' 'nonce-" in policy and "'unsafe-inline'" not in policy.split("style-src-attr")[0]
    assert "object-src 'none'" in policy and "frame-ancestors 'none'" in policy
    # docs/deploy.md: style elements only from the site or with the nonce; forms post only to the site.
    directives = dict(d.strip().split(" ", 1) for d in policy.split(";") if " " in d.strip())
    assert directives["style-src"].split()[0] == "'self'" and "'nonce-" in directives["style-src"]
    assert "'unsafe-inline'" not in directives["style-src"] and directives["form-action"] == "'self'"


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/", "/\\\\evil.example/",
                                    "javascript:alert(1)", "http://127.0.0.1.evil.example/"])
def test_signup_and_login_never_redirect_off_site(client, django_user_model, target):
    django_user_model.objects.create_user("dana", password="pw-dana-12345")
    page = client.get("/accounts/login/", {"next": target})
    answer = client.post(f"/accounts/login/?next={target}", {"username": "dana", "password": "pw-dana-12345",
                                                           "next": target})
    assert page.status_code == 200
    assert answer.status_code == 302 and not answer["Location"].startswith(("http", "//", "/\\\\", "javascript"))


def test_login_is_throttled_after_repeated_failures(client, settings, django_user_model):
    django_user_model.objects.create_user("eve", password="pw-eve-correct-1")
    settings.AXES_FAILURE_LIMIT = 3
    for _ in range(3):
        client.post("/accounts/login/", {"username": "eve", "password": "wrong"})
    locked = client.post("/accounts/login/", {"username": "eve", "password": "pw-eve-correct-1"})
    assert locked.status_code == 429
    assert "Too many sign-in attempts" in locked.content.decode()


# -- Who is counted: a checked identity and the client address ------------------------------------

def _fresh_cookie_client(client):
    """The test client with a made-up session cookie, different each time (never a real session)."""
    import secrets

    client.cookies["sessionid"] = secrets.token_hex(16)
    return client


def test_rotating_made_up_session_cookies_does_not_escape_the_limit(client, settings):
    settings.NETLEARN_RATE_LIMITS = {"walks:index": (5, 60)}
    statuses = [_fresh_cookie_client(client).post("/walk/", {"url": "http://203.0.113.9/"}).status_code
                for _ in range(20)]
    assert statuses[:5].count(429) == 0
    assert statuses[5:] == [429] * 15


def test_a_real_session_has_its_own_budget_beside_cookie_rotators_on_its_address(client, settings):
    settings.NETLEARN_RATE_LIMITS = {"walks:index": (3, 60)}
    for _ in range(6):  # a rotator on the same address uses up the address's anonymous budget
        _fresh_cookie_client(client.__class__()).post("/walk/", {"url": "http://203.0.113.9/"})
    learner = client.__class__()
    learner.get("/walk/")  # a real session, as a browser has
    statuses = [learner.post("/walk/", {"url": "http://203.0.113.9/"}).status_code for _ in range(4)]
    assert statuses[:3].count(429) == 0 and statuses[3] == 429


def test_one_address_gets_a_classroom_sized_budget_and_no_more(settings):
    from django.test import Client

    settings.NETLEARN_RATE_LIMITS = {"walks:index": (2, 60)}
    settings.NETLEARN_RATE_LIMIT_ADDRESS_FACTOR = 3  # a "classroom" of three learners per address
    learners = [Client(REMOTE_ADDR="198.51.100.7") for _ in range(4)]
    for learner in learners:
        learner.get("/walk/")
    answers = [[learner.post("/walk/", {"url": "http://203.0.113.9/"}).status_code for _ in range(2)]
               for learner in learners]
    assert [s for row in answers[:3] for s in row].count(429) == 0  # 3 learners × 2 = the address's 6
    assert answers[3] == [429, 429]
    elsewhere = Client(REMOTE_ADDR="198.51.100.8")
    elsewhere.get("/walk/")
    assert elsewhere.post("/walk/", {"url": "http://203.0.113.9/"}).status_code != 429


def test_a_client_past_its_own_limit_does_not_use_up_its_address(settings):
    from django.test import Client

    settings.NETLEARN_RATE_LIMITS = {"walks:index": (2, 60)}
    settings.NETLEARN_RATE_LIMIT_ADDRESS_FACTOR = 2
    hammer = Client(REMOTE_ADDR="198.51.100.9")
    hammer.get("/walk/")
    answers = [hammer.post("/walk/", {"url": "http://203.0.113.9/"}).status_code for _ in range(30)]
    assert answers.count(429) == 28
    classmate = Client(REMOTE_ADDR="198.51.100.9")
    classmate.get("/walk/")
    answers = [classmate.post("/walk/", {"url": "http://203.0.113.9/"}).status_code for _ in range(2)]
    assert answers.count(429) == 0


@pytest.mark.parametrize(("trusted", "remote", "forwarded", "expected"), [
    ([], "203.0.113.5", "198.51.100.1", "203.0.113.5"),                  # no proxy trusted: header ignored
    (["127.0.0.1"], "203.0.113.5", "198.51.100.1", "203.0.113.5"),       # not from the proxy: ignored
    (["127.0.0.1"], "127.0.0.1", "198.51.100.1", "198.51.100.1"),        # nginx on the host
    (["127.0.0.1"], "127.0.0.1", "6.6.6.6, 198.51.100.1", "198.51.100.1"),  # the client wrote the left one
    (["127.0.0.1", "10.0.0.0/8"], "127.0.0.1", "198.51.100.1, 10.1.2.3", "198.51.100.1"),  # two proxies
    (["127.0.0.1"], "127.0.0.1", "not-an-address", "127.0.0.1"),
])
def test_client_address_believes_x_forwarded_for_only_from_trusted_proxies(rf, settings, trusted, remote,
                                                                         forwarded, expected):
    from netlearn.core.clientaddr import client_address

    settings.NETLEARN_TRUSTED_PROXIES = trusted
    request = rf.post("/walk/", REMOTE_ADDR=remote, HTTP_X_FORWARDED_FOR=forwarded)
    assert client_address(request) == expected


def test_forged_forwarded_addresses_do_not_escape_the_limit_behind_a_trusted_proxy(settings):
    import secrets

    from django.test import Client

    settings.NETLEARN_TRUSTED_PROXIES = ["127.0.0.1"]
    settings.NETLEARN_RATE_LIMITS = {"walks:index": (3, 60)}
    statuses = []
    for n in range(8):  # a new forged address and a new made-up cookie each time, through the proxy
        forged = Client(REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR=f"192.0.2.{n}, 198.51.100.20")
        forged.cookies["sessionid"] = secrets.token_hex(16)
        statuses.append(forged.post("/walk/", {"url": "http://203.0.113.9/"}).status_code)
    assert statuses[:3].count(429) == 0 and statuses[3:] == [429] * 5


# -- The shipped defaults are the ones docs/deploy.md promises -----------------------------------

def test_shipped_rate_limits_are_the_documented_ones() -> None:
    """docs/deploy.md: walks 20/min, lab actions 20/min, quiz answers 60/min, sign-ups and password
    resets 10 and 5 per 10 min (the tests above prove each rule is enforced as configured)."""
    from django.conf import settings as shipped

    limits = shipped.NETLEARN_RATE_LIMITS
    assert limits["walks:index"] == (20, 60)
    assert limits["walks:try"] == (20, 60)
    assert limits["quizzes:answer"] == (60, 60)
    assert limits["accounts:signup"] == (10, 600)
    assert limits["accounts:password_reset"] == (5, 600)
    assert shipped.NETLEARN_RATE_LIMIT_ADDRESS_FACTOR == 40
    assert shipped.AXES_COOLOFF_TIME * 60 == 15  # minutes


def test_login_is_throttled_at_the_fifth_failure_by_default(client, django_user_model):
    """docs/deploy.md: 5 failures per user name and address pause sign-in; 4 do not."""
    django_user_model.objects.create_user("mallory", password="pw-mallory-right-1")
    django_user_model.objects.create_user("trent", password="pw-trent-right-1")
    for _ in range(4):
        client.post("/accounts/login/", {"username": "trent", "password": "wrong"})
    assert client.post("/accounts/login/", {"username": "trent", "password": "pw-trent-right-1"}).status_code == 302
    client.logout()
    for _ in range(5):
        client.post("/accounts/login/", {"username": "mallory", "password": "wrong"})
    locked = client.post("/accounts/login/", {"username": "mallory", "password": "pw-mallory-right-1"})
    assert locked.status_code == 429
