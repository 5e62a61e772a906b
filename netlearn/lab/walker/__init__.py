"""The client side of a walk: what a browser does, for real, against the lab.

``url`` decides (without any I/O) whether a learner's URL may be walked at all; ``client`` does
the walk on real sockets and reports every step on the lab's event stream.
"""
from .url import LabTarget, ParsedUrl, Refusal, parse_lab_url

__all__ = ["LabTarget", "ParsedUrl", "Refusal", "parse_lab_url"]
