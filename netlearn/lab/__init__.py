"""The lab: real servers on loopback that a learner's request really travels through.

A plain Python package: it must never import Django (``tests/lab/test_no_django.py`` checks).
Protocol logic is sans-I/O (objects fed bytes, handing out events); thin asyncio servers move
bytes between sockets and those objects; every component reports what it did on one
:class:`~netlearn.lab.stream.EventStream`.
"""
