"""Compare mode: four real walks, round trips counted from what the client really sent."""
from __future__ import annotations

import asyncio
import re

import pytest
from django.test import AsyncClient

from netlearn.lab import control
from netlearn.lab.compare import compare_protocols, row_urls
from netlearn.walks import compare
from netlearn.walks.compare import rows_context
from tests.waiting import eventually

pytestmark = pytest.mark.django_db(transaction=True)


def test_row_urls_keep_host_and_path_under_each_scheme() -> None:
    rows = row_urls("https://shop.netlearn.test/index.html")
    assert [(key, url, proto) for key, _, url, proto in rows] == [
        ("h1", "http://shop.netlearn.test/index.html", "h1"),
        ("h1tls", "https://shop.netlearn.test/index.html", "h1"),
        ("h2", "https://shop.netlearn.test/index.html", "h2"),
        ("h3", "https://shop.netlearn.test/index.html", "h3")]


async def test_round_trips_fall_from_h1_tls_to_h3(lab) -> None:
    rows = await compare_protocols(lab, "https://shop.netlearn.test/", added_rtt_ms=5)
    by_key = {row.key: row for row in rows}
    assert all(row.status == "done" for row in rows), [(r.key, r.code) for r in rows]
    # Plain: SYN + 4 requests in turn. TLS: one more. HTTP/2: 3 sub-resources in one trip. HTTP/3: no TCP.
    assert [by_key[k].round_trips for k in ("h1", "h1tls", "h2", "h3")] == [5, 6, 4, 3]
    assert by_key["h3"].transport == "udp" and by_key["h2"].transport == "tcp"
    assert all(row.connections == 1 for row in rows)
    assert by_key["h3"].trips[0]["label"].startswith("QUIC Initial")
    assert by_key["h1tls"].trips[1]["label"].startswith("ClientHello")
    context = rows_context(rows)
    assert sum(1 for r in context["rows"] if r["fewest"]) == 1 and context["rows"][3]["fewest"]


async def _poll(client: AsyncClient, body: str, deadline: float = 60.0) -> str:
    """Follow the "comparing…" fragment's hx-get until it answers with the result, as htmx does."""
    loop = asyncio.get_running_loop()
    until = loop.time() + deadline
    while 'class="card compare-pending"' in body:
        assert loop.time() < until, "the comparison did not finish"
        poll = re.search(r'hx-get="([^"]+)"', body).group(1)
        await asyncio.sleep(0.2)  # htmx waits a second between polls; this only paces the loop
        answer = await client.get(poll, headers={"HX-Request": "true"})
        assert answer.status_code in (200, 504), answer.status_code
        body = answer.content.decode()
    return body


async def test_compare_page_renders_four_waterfalls(embedded_lab) -> None:
    client = AsyncClient()
    page = await client.get("/walk/compare/")
    assert page.status_code == 200 and 'name="latency"' in page.content.decode()
    response = await client.post("/walk/compare/", {"url": "https://shop.netlearn.test/", "latency": "0"},
                                 headers={"HX-Request": "true"})
    assert response.status_code == 200
    body = await _poll(client, response.content.decode())
    assert body.count('class="compare-row') == 4
    assert "HTTP/3" in body and "TLS handshake" in body and "QUIC handshake" in body


@pytest.fixture
def slow_backends(embedded_lab):
    for n in range(1, 5):
        command = {"op": "latency", "backend": n, "seconds": 3}
        embedded_lab.submit(lambda lab, command=command: control.apply(lab, command)).result(5)
    return embedded_lab


async def test_the_post_answers_while_the_comparison_still_runs(slow_backends) -> None:
    """The request does not wait for the lab (it would hold a pooled thread up to 40 s)."""
    client = AsyncClient()
    response = await client.post("/walk/compare/", {"url": "http://shop.netlearn.test/", "latency": "0"},
                                 headers={"HX-Request": "true"})
    body = response.content.decode()
    assert response.status_code == 200 and 'class="card compare-pending"' in body
    token = re.search(r"/walk/compare/([0-9a-f]{32})/", body).group(1)
    assert token in compare._running  # the backends answer 3 s late: surely still running
    again = await client.post("/walk/compare/", {"url": "http://shop.netlearn.test/", "latency": "0"},
                              headers={"HX-Request": "true"})
    assert again.status_code == 200 and "still running" in again.content.decode()  # one per learner:
    assert f"/walk/compare/{token}/" in again.content.decode() and len(compare._running) == 1  # the same one
    body = await _poll(client, body)
    assert body.count('class="compare-row') == 4


async def test_without_javascript_the_post_redirects_to_a_refreshing_page(embedded_lab) -> None:
    client = AsyncClient()
    response = await client.post("/walk/compare/", {"url": "https://shop.netlearn.test/", "latency": "0"})
    assert response.status_code == 302 and re.fullmatch(r"/walk/compare/[0-9a-f]{32}/", response["Location"])
    page = (await client.get(response["Location"])).content.decode()
    assert "<html" in page
    if 'class="card compare-pending"' in page:
        assert '<noscript><meta http-equiv="refresh"' in page
    body = await _poll(client, page)
    assert body.count('class="compare-row') == 4
    assert (await client.get("/walk/compare/0123456789abcdef0123456789abcdef/")).status_code == 404


async def test_compare_refuses_urls_outside_the_lab_without_a_connection(connect_watch) -> None:
    response = await AsyncClient().post("/walk/compare/", {"url": "https://example.com/", "latency": "20"},
                                        headers={"HX-Request": "true"})
    assert response.status_code == 400
    assert "outside the lab" in response.content.decode()
    assert "93.184.216.34" not in connect_watch.hosts() and not connect_watch.hosts() - {"127.0.0.1"}


async def test_a_worker_runs_at_most_four_comparisons_and_turns_a_fifth_away(slow_backends) -> None:
    """README: a comparison runs as a background task, one per learner, four per worker."""
    assert compare.MAX_RUNNING == 4
    tokens = []
    for _ in range(4):
        response = await AsyncClient().post("/walk/compare/", {"url": "http://shop.netlearn.test/", "latency": "0"},
                                            headers={"HX-Request": "true"})
        assert response.status_code == 200
        tokens.append(re.search(r"/walk/compare/([0-9a-f]{32})/", response.content.decode()).group(1))
    assert len(set(tokens)) == 4 and set(tokens) <= set(compare._running)  # backends 3 s late: all still run
    fifth = await AsyncClient().post("/walk/compare/", {"url": "http://shop.netlearn.test/", "latency": "0"},
                                     headers={"HX-Request": "true"})
    assert fifth.status_code == 429 and "The lab is busy comparing" in fifth.content.decode()
    await eventually(lambda: not compare._running, "the four comparisons finished", timeout=120)
