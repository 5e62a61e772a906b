"""Frames between the site and a lab in its own process: a 4-byte length, then a pickle.

Sans-I/O, as the lab's protocols are: :func:`frame` turns a message into bytes and
:class:`FrameReader` turns bytes, as they arrive in whatever pieces, back into messages. Both
ends are our own processes on one machine, started from the same code, so pickle is safe here
(the socket is a ``socketpair``: nothing else can write to it).

Lab events carry their details in read-only ``MappingProxyType`` views, which pickle refuses;
they travel as plain dicts and come back as read-only views.
"""
from __future__ import annotations

import io
import pickle
import struct
from types import MappingProxyType
from typing import Any

HEADER = struct.Struct("!I")
#: A walk's record is ~45 KB; a comparison or a capture-heavy demo a few hundred. Anything near
#: this is a bug, and refusing it beats allocating whatever a corrupt header says.
MAX_FRAME = 64 * 1024 * 1024


def _read_only(mapping: dict[str, Any]) -> MappingProxyType[str, Any]:
    return MappingProxyType(mapping)


class _Pickler(pickle.Pickler):
    def reducer_override(self, obj: Any) -> Any:
        if type(obj) is MappingProxyType:
            return _read_only, (dict(obj),)
        return NotImplemented


def frame(message: Any) -> bytes:
    """One message as bytes for the socket."""
    buffer = io.BytesIO()
    buffer.write(b"\0\0\0\0")
    _Pickler(buffer, protocol=pickle.HIGHEST_PROTOCOL).dump(message)
    data = buffer.getbuffer()
    HEADER.pack_into(data, 0, len(data) - HEADER.size)
    return bytes(data)


class FrameError(Exception):
    """The byte stream is not a sequence of frames (a bug or a half-dead peer): stop reading."""


class FrameReader:
    """Feed it bytes; it returns every message they complete, in order."""

    def __init__(self) -> None:
        self._buffer = bytearray()

    def feed(self, data: bytes) -> list[Any]:
        self._buffer += data
        messages = []
        buffer = self._buffer
        start = 0
        while len(buffer) - start >= HEADER.size:
            (size,) = HEADER.unpack_from(buffer, start)
            if size > MAX_FRAME:
                raise FrameError(f"a frame of {size} bytes")
            end = start + HEADER.size + size
            if len(buffer) < end:
                break
            with memoryview(buffer) as view, view[start + HEADER.size:end] as body:
                messages.append(pickle.loads(body))
            start = end
        if start:
            del buffer[:start]
        return messages
