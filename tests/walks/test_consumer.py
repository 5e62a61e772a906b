"""The walk's WebSocket, with Channels' communicator against the real ASGI application."""
from __future__ import annotations

import asyncio

import pytest
from channels.testing import WebsocketCommunicator

from netlearn.asgi import application
from netlearn.walks.services import walk_start

from .test_services import _finished

pytestmark = pytest.mark.django_db(transaction=True)


async def _receive_until_final(communicator: WebsocketCommunicator) -> list[str]:
    messages = []
    while True:
        message = await communicator.receive_from(timeout=15)
        messages.append(message)
        if 'id="walk-result"' in message:
            return messages


async def _watch_a_walk() -> tuple[WebsocketCommunicator, list[str]]:
    """Start a walk of the shop, open its socket, and read until its final page."""
    walk = await walk_start(url="http://shop.netlearn.test/", session_key="s")
    communicator = WebsocketCommunicator(application, f"/ws/walk/{walk.id}/?lang=en",
                                         headers=[(b"origin", b"http://127.0.0.1"), (b"host", b"127.0.0.1")])
    connected, _ = await communicator.connect()
    assert connected
    return communicator, await _receive_until_final(communicator)


async def test_walk_steps_stream_to_the_socket_and_end_with_the_full_result(lab_either_way) -> None:
    communicator, messages = await _watch_a_walk()
    final = messages[-1]
    assert 'hx-swap-oob="true"' in final
    assert "walk-step" in final and "L7" in final and "L4" in final
    for live in messages[:-1]:
        assert 'hx-swap-oob="beforeend"' in live
    await communicator.disconnect()


async def test_a_slow_walk_streams_its_steps_live_before_it_ends(lab_either_way) -> None:
    """On the embedded defaults (in-memory layer), the lab in a thread or in a child process: every
    backend answers 0.5 s late (the lab's failure injection), so the walk is still running while
    its DNS and TCP steps stream."""
    import functools

    from asgiref.sync import sync_to_async

    from netlearn.lab import control
    from netlearn.walks.models import Walk

    for backend in (1, 2, 3, 4):
        command = {"op": "latency", "backend": backend, "seconds": 0.5}
        await asyncio.wrap_future(lab_either_way.submit(functools.partial(control.apply, command=command)))
    walk = await walk_start(url="http://shop.netlearn.test/", session_key="s")
    communicator = WebsocketCommunicator(application, f"/ws/walk/{walk.id}/?lang=en",
                                         headers=[(b"origin", b"http://127.0.0.1"), (b"host", b"127.0.0.1")])
    connected, _ = await communicator.connect()
    assert connected
    first = await communicator.receive_from(timeout=15)
    status_when_first_arrived = await sync_to_async(lambda: Walk.objects.get(id=walk.id).status)()
    messages = [first, *await _receive_until_final(communicator)] if 'id="walk-result"' not in first else [first]
    await communicator.disconnect()
    live, final = messages[:-1], messages[-1]
    assert status_when_first_arrived == Walk.Status.RUNNING  # streamed while the walk ran, not replayed after
    assert live and all('hx-swap-oob="beforeend"' in message for message in live)
    assert "walk-step" in live[0] and "DNS" in "".join(live)
    assert 'id="walk-result"' in final and "walk-step" in final


async def test_late_socket_gets_the_stored_walk(embedded_lab) -> None:
    walk = await walk_start(url="http://nope.netlearn.test/", session_key="s")
    await _finished(walk.id)
    communicator = WebsocketCommunicator(application, f"/ws/walk/{walk.id}/",
                                         headers=[(b"origin", b"http://127.0.0.1"), (b"host", b"127.0.0.1")])
    connected, _ = await communicator.connect()
    assert connected
    message = await communicator.receive_from(timeout=10)
    assert "NXDOMAIN" in message
    await communicator.disconnect()


async def test_unknown_walk_socket_is_closed() -> None:
    communicator = WebsocketCommunicator(application, "/ws/walk/00000000-0000-0000-0000-000000000000/",
                                         headers=[(b"origin", b"http://127.0.0.1"), (b"host", b"127.0.0.1")])
    connected, code = await communicator.connect()
    assert not connected


@pytest.mark.parametrize("url", ["http://shop.netlearn.test/", "https://www.netlearn.test/", "http://nope.netlearn.test/"])
async def test_the_final_page_rendered_from_memory_is_the_stored_walks_page(embedded_lab, url) -> None:
    """The final render reads the walk this process has just stored from memory instead of the
    row it wrote (rendering.remember_stored): the record must be the row's, value for value and
    type for type (a tuple where the row has a list would compare unequal), and so the page."""
    from asgiref.sync import sync_to_async
    from django.utils import translation

    from netlearn.walks import rendering

    walk = await walk_start(url=url, session_key="s")
    stored = await _finished(walk.id)
    deadline = asyncio.get_running_loop().time() + 10
    while (remembered := rendering.recently_stored(walk.id)) is None:
        assert asyncio.get_running_loop().time() < deadline, "the stored walk was not kept for its render"
        await asyncio.sleep(0.02)
    for field in ("events", "frames", "detail", "backends", "status", "code", "finished_at", "duration_ms", "url"):
        assert getattr(remembered, field) == getattr(stored, field), field
    assert rendering.state_of(remembered) == rendering.state_of(stored)

    def pages(lang: str) -> tuple[str, str]:
        with translation.override(lang):
            return rendering.final_html(remembered), rendering.final_html(stored)

    for lang in ("en", "ko"):
        from_memory, from_row = await sync_to_async(pages)(lang)
        assert from_memory == from_row and 'id="walk-result"' in from_memory


async def test_live_batches_reach_the_socket_without_a_thread_hop_each(embedded_lab, monkeypatch) -> None:
    """Channels closes old database connections (on a thread) before every message a consumer
    handles; the walk's socket skips it (its database reads close them themselves), so a walk's
    whole stream, live batches and final page, costs no such hop."""
    import channels.consumer

    hops = []
    original = channels.consumer.aclose_old_connections

    async def counting() -> None:
        hops.append(1)
        await original()

    monkeypatch.setattr(channels.consumer, "aclose_old_connections", counting)
    communicator, messages = await _watch_a_walk()
    await communicator.disconnect()
    assert 'id="walk-result"' in messages[-1]
    assert hops == []


async def test_the_final_page_made_ahead_reaches_the_socket_from_memory(monkeypatch) -> None:
    """README "Where a walk is stored": the worker keeps the render its finisher sends back, and a
    walk's socket takes it on the loop when ``walk.finished`` arrives, with no thread hop to
    render (``rendering.final_html_cached`` runs on a thread). A render kept here is what the
    socket sends: marked, so a page rendered again instead would show."""
    from asgiref.sync import sync_to_async
    from django.utils import timezone

    from netlearn.walks import rendering
    from netlearn.walks.models import Walk

    walk = await Walk.objects.acreate(url="http://shop.netlearn.test/", session_key="s")
    communicator = WebsocketCommunicator(application, f"/ws/walk/{walk.id}/?lang=ko",
                                         headers=[(b"origin", b"http://127.0.0.1"), (b"host", b"127.0.0.1")])
    connected, _ = await communicator.connect()
    assert connected
    assert await communicator.receive_nothing(timeout=0.2), "a running walk has no final page yet"

    renders = []
    original = rendering.final_html_cached

    def counting(*args):
        renders.append(args)
        return original(*args)

    monkeypatch.setattr(rendering, "final_html_cached", counting)
    walk.status, walk.code, walk.finished_at = Walk.Status.DONE, "", timezone.now()
    await sync_to_async(walk.save)()
    state = rendering.state_of(walk)
    made_ahead = '<div id="walk-result" data-made-ahead="ko">…</div>'
    rendering.prime_final(walk.id, "ko", state, made_ahead)
    from channels.layers import get_channel_layer

    await get_channel_layer().group_send(f"walk.{walk.id.hex}", {"type": "walk.finished", "walk": walk.id.hex,
                                                                 "state": list(state)})
    assert await communicator.receive_from(timeout=10) == made_ahead
    assert renders == [], "the socket rendered on a thread what it had in memory"
    await communicator.disconnect()
