"""The lab's HTTP backends: an h11 pipeline of handlers (sans-I/O) and its asyncio server.

``EmbeddedChannel`` runs the pipeline without a socket; ``BackendServer`` runs it on one.
"""
from .backend import MODES, BackendServer
from .embedded import EmbeddedChannel
from .pipeline import Behaviour, HttpPipeline

__all__ = ["MODES", "BackendServer", "Behaviour", "EmbeddedChannel", "HttpPipeline"]
