"""One production-like stack (nginx, two uvicorn workers, PostgreSQL, Redis) per test module."""
from __future__ import annotations

import pytest

from netlearn.devtools.stack import Stack, start_stack


@pytest.fixture(scope="module")
def stack() -> Stack:
    the_stack = start_stack(workers=2)
    yield the_stack
    the_stack.stop()
