from __future__ import annotations

import pytest


@pytest.fixture
async def embedded_lab(transactional_db):
    """The embedded lab attached to this test's event loop, as the ASGI lifespan would attach it."""
    from netlearn.lab.topology import LabConfig
    from netlearn.walks import bridge

    thread = await bridge.start_embedded_lab(LabConfig.ephemeral())
    try:
        yield thread
    finally:
        await bridge.stop_embedded_lab()
