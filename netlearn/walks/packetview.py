"""A walk's stored frames as Wireshark shows them: the packet list, the layered tree with byte
ranges, and the bytes. Pure functions over the stored dicts (docs/capture.md); the dissection
itself is the lab's sans-I/O ``netlearn.lab.capture.dissect``.
"""
from __future__ import annotations

from typing import Any

from netlearn.lab.capture.dissect import Conversation, dissect

from . import presenters


def frame_bytes(frame: dict[str, Any]) -> bytes:
    return bytes.fromhex(frame.get("hex", ""))


def frame_tree(frame: dict[str, Any], *, conversation: Conversation | None = None) -> list[dict[str, Any]]:
    """One node per protocol layer, outermost first; every node and field has ``start``/``end``
    in the whole frame. Rebuilt frames mark the fields user space could not see as ``unknown``.

    ``conversation`` (the TCP stream's first sequence numbers) gives relative numbers; without it
    the frame's own stream is replayed from ``frames`` when the caller has them (see
    :func:`frame_trees`), else raw numbers are shown."""
    unknown = frozenset(frame.get("unknown", ()))
    result = dissect(frame_bytes(frame), app=frame.get("app"), conversation=conversation, unknown=unknown)
    captured = bool(frame.get("captured", True))
    return [{**layer.as_dict(), "captured": captured} for layer in result.layers]


def frame_trees(frames: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """:func:`frame_tree` for every frame of a walk, with relative TCP numbers per conversation."""
    conversations: dict[Any, Conversation] = {}
    trees = []
    for frame in frames:
        conv = conversations.setdefault(frame.get("flow"), Conversation()) if frame.get("transport") == "tcp" else None
        trees.append(frame_tree(frame, conversation=conv))
    return trees


def hexdump(frame: dict[str, Any], *, width: int = 16) -> list[dict[str, Any]]:
    """Rows of the bytes pane: offset, (hex, byte index) cells, and the printable text."""
    data = frame_bytes(frame)
    rows = []
    for start in range(0, len(data), width):
        chunk = data[start:start + width]
        rows.append({"offset": f"{start:04x}", "cells": [(f"{b:02x}", start + i) for i, b in enumerate(chunk)],
                     "ascii": "".join(chr(b) if 32 <= b < 127 else "." for b in chunk)})
    return rows


def packet_rows(walk: Any) -> list[dict[str, Any]]:
    """The packet list: the stored frames in kernel-timestamp order, with their time formatted."""
    return [{**frame, "time": f"{frame.get('t_ms', 0.0):.3f}"} for frame in (walk.frames or [])]


def annotate_frames(frames: list[dict[str, Any]], topology: dict[str, str]) -> list[dict[str, Any]]:
    """Add the diagram's node names and link to each frame (stored with the walk)."""
    for frame in frames:
        src = presenters.node_for(frame.get("src"), topology)
        dst = presenters.node_for(frame.get("dst"), topology)
        link, _direction = presenters.link_for(src, dst)
        frame["src_node"], frame["dst_node"], frame["hop"] = src, dst, link
    return frames
