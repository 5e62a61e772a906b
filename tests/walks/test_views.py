"""Walk pages over real HTTP handling (Django test client), JSON document, inspector."""
from __future__ import annotations

import json

import pytest
from django.test import AsyncClient

from netlearn.walks.models import Walk

from .test_services import _finished

pytestmark = pytest.mark.django_db(transaction=True)


async def test_index_prefills_the_lab_url_and_suggestions() -> None:
    response = await AsyncClient().get("/walk/")
    body = response.content.decode()
    assert response.status_code == 200
    assert 'value="http://shop.netlearn.test/"' in body
    assert "http://nope.netlearn.test/" in body


async def test_a_refused_url_gets_a_friendly_explanation_and_no_connection(connect_watch) -> None:
    client = AsyncClient()
    response = await client.post("/walk/", {"url": "http://example.com/"})
    assert response.status_code == 302
    page = await client.get(response["Location"])
    body = page.content.decode()
    assert "outside the lab" in body
    assert "On the real Internet" in body
    assert connect_watch.destinations == []


async def test_refusal_is_explained_in_korean() -> None:
    client = AsyncClient(headers={"accept-language": "ko"})
    response = await client.post("/walk/", {"url": "ftp://shop.netlearn.test/"})
    page = await client.get(response["Location"], headers={"accept-language": "ko"})
    assert page.status_code == 200
    assert 'lang="ko"' in page.content.decode()


async def test_finished_walk_page_json_and_inspector(embedded_lab) -> None:
    client = AsyncClient()
    response = await client.post("/walk/", {"url": "http://shop.netlearn.test/"})
    walk = await _finished(response["Location"].rstrip("/").split("/")[-1])
    page = await client.get(walk.get_absolute_url())
    body = page.content.decode()
    assert page.status_code == 200 and "walk-steps" in body and "Timing waterfall" in body
    document = json.loads((await client.get(f"/walk/{walk.id}.json")).content)
    assert document["status"] == "done"
    first_query = next(s for s in document["steps"] if s["kind"] == "query")
    assert first_query["layer"] == 7 and first_query["bytes_hex"]
    inspector = await client.get(f"/walk/{walk.id}/step/{first_query['seq']}/")
    text = inspector.content.decode()
    assert inspector.status_code == 200
    assert "UDP" in text and "IPv4" in text
    captured = document["capture"]["mode"] == "captured"
    assert ("Captured on lo" in text) if captured else ("rebuilt from real values" in text)
    assert "shop.netlearn.test" in text
    choose = next(s for s in document["steps"] if s["kind"] == "choose")
    text = (await client.get(f"/walk/{walk.id}/step/{choose['seq']}/")).content.decode()
    assert "choice card" in text and "backend-4" in text and "round robin" in text
    connect = next(s for s in document["steps"] if s["kind"] == "connect" and s["component"] == "client")
    text = (await client.get(f"/walk/{walk.id}/step/{connect['seq']}/")).content.decode()
    assert "SYN-ACK" in text and str(connect["src"][1]) in text
    # The handshake's own packets sit under the step: SYN, then SYN-ACK, then ACK, with real flags.
    assert [f["info"].split("[")[1].split("]")[0] for f in document["frames"] if f["no"] in connect["frames"]] == [
        "SYN", "SYN, ACK", "ACK"]
    assert "[SYN] Seq=0" in text
    stack = [text.index(f'layer-badge layer-{n}"') for n in (7, 4, 3, 2, 1)]
    assert stack == sorted(stack)  # the inspector lists the layers top down


async def test_htmx_post_returns_the_panel_and_pushes_the_url(embedded_lab) -> None:
    response = await AsyncClient().post("/walk/", {"url": "http://nope.netlearn.test/"}, headers={"HX-Request": "true"})
    assert response.status_code == 200
    assert response["HX-Push-Url"].startswith("/walk/")
    assert 'class="walk-panel"' in response.content.decode()


async def test_unknown_walk_is_404() -> None:
    response = await AsyncClient().get("/walk/00000000-0000-0000-0000-000000000000/")
    assert response.status_code == 404
    assert (await Walk.objects.acount()) == 0


async def test_frames_over_the_walks_bound_are_counted_as_lost_and_said_on_the_page(embedded_lab) -> None:
    """README: each walk keeps at most 2,000 frames / 4 MiB; the rest are counted as lost and said."""
    bounds = embedded_lab.call(lambda lab: lab.capture.sniffer and (lab.capture.sniffer.max_frames,
                                                                     lab.capture.sniffer.max_bytes))
    if not bounds:
        pytest.skip("no capture here (needs CAP_NET_RAW): frames are rebuilt, nothing can overflow")
    assert bounds == (2000, 4 << 20)
    embedded_lab.call(lambda lab: setattr(lab.capture.sniffer, "max_frames", 6))
    client = AsyncClient()
    response = await client.post("/walk/", {"url": "http://shop.netlearn.test/", "cache": "cold"})
    walk = await _finished(response["Location"].rstrip("/").split("/")[-1])
    lost = walk.detail["capture"]["lost"]
    assert len(walk.frames) == 6 and lost > 0
    body = (await client.get(walk.get_absolute_url())).content.decode()
    assert f"{lost} frames lost: the capture buffer overflowed" in body


async def test_healthz_reports_every_lab_component_with_its_state_address_and_port(embedded_lab) -> None:
    """README: `/healthz` is {"status": "ok", "lab": {...every component's state, address and port...}},
    at the addresses of the README's lab table (ports are the kernel's here: an ephemeral lab)."""
    health = (await AsyncClient().get("/healthz")).json()
    assert health["status"] == "ok" and health["lab"]["state"] == "running"
    components = health["lab"]["components"]
    expected = {"root": "127.0.1.1", "tld": "127.0.1.2", "authoritative": "127.0.1.3", "resolver": "127.0.1.4",
                "l4": "127.0.2.1", "l7": "127.0.2.2", "backend-1": "127.0.3.1", "backend-2": "127.0.3.2",
                "backend-3": "127.0.3.3", "backend-4": "127.0.3.4"}
    seen = {name: components[name] for name in ("root", "tld", "authoritative", "resolver", "l4", "l7")}
    seen.update({backend["name"]: backend for backend in components["backends"]})
    assert {name: c["host"] for name, c in seen.items()} == expected
    assert all(c["state"] == "running" and 1024 < c["port"] < 65536 for c in seen.values()), seen
