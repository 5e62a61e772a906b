"""Compare mode: four real walks, round trips counted from what the client really sent."""
from __future__ import annotations

import pytest
from django.test import AsyncClient

from netlearn.lab.compare import compare_protocols, row_urls
from netlearn.walks.compare import rows_context

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


async def test_compare_page_renders_four_waterfalls(embedded_lab) -> None:
    client = AsyncClient()
    page = await client.get("/walk/compare/")
    assert page.status_code == 200 and 'name="latency"' in page.content.decode()
    response = await client.post("/walk/compare/", {"url": "https://shop.netlearn.test/", "latency": "0"},
                                 headers={"HX-Request": "true"})
    body = response.content.decode()
    assert response.status_code == 200
    assert body.count('class="compare-row') == 4
    assert "HTTP/3" in body and "TLS handshake" in body and "QUIC handshake" in body


async def test_compare_refuses_urls_outside_the_lab_without_a_connection(connect_watch) -> None:
    response = await AsyncClient().post("/walk/compare/", {"url": "https://example.com/", "latency": "20"},
                                        headers={"HX-Request": "true"})
    assert response.status_code == 400
    assert "outside the lab" in response.content.decode()
    assert "93.184.216.34" not in connect_watch.hosts() and not connect_watch.hosts() - {"127.0.0.1"}
