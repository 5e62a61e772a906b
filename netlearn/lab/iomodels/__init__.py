"""Server handling: one handler pipeline served by threads (OIO), selector loops (NIO), an
in-process transport (local) and no transport at all (embedded). See ``compare.py`` for the live
comparison and ``demos.py`` for the SO_BACKLOG and graceful-shutdown demonstrations."""
from __future__ import annotations

from .embedded import EmbeddedChannel
from .local import LocalChannel, LocalServer
from .nio import NioServer
from .oio import ThreadPerConnectionServer
from .pipeline import CommandHandler, LineDecoder, Pipeline, Reply

__all__ = ["CommandHandler", "EmbeddedChannel", "LineDecoder", "LocalChannel", "LocalServer", "NioServer",
           "Pipeline", "Reply", "ThreadPerConnectionServer"]
