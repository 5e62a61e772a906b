"""Worked examples in the course text are regenerated from the lab's own code, so text and code cannot drift.

Smooth weighted round robin: wherever a text says "weights 3, 3, 1, 1 … (1, 2, 3, 1, 2, 4, 1, 2)"
(Korean: "가중치가 3, 3, 1, 1이면 … (1, 2, 3, …)"), the order in brackets must be the first picks of
``netlearn.lab.balance.algorithms.SmoothWeightedRoundRobin`` over backends 1..n with those
weights. The weighted try-it step must state the weights the lab action really uses, and the
io-models try-it steps the load it really runs (idle connections, active clients, the OIO pool).
"""
from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

from netlearn.lab.actions import DEMO_WEIGHTS, IO_MODELS_LOAD
from netlearn.lab.balance.algorithms import BackendState, SmoothWeightedRoundRobin
from netlearn.lab.events import Endpoint

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "content"
#: "weights 3, 3, 1, 1" then, later in the same paragraph, a bracketed order "(1, 2, 3, ...)".
EXAMPLE = re.compile(r"(?:weights|가중치가?)\s+(\d+(?:,\s*\d+)+)[^\n]*?\((\d+(?:,\s*\d+)+)\)")
SHARES = {"en": re.compile(r"(\d+) requests give (\d+), (\d+), (\d+) and (\d+)"),
          "ko": re.compile(r"요청 (\d+)개는 (\d+), (\d+), (\d+), (\d+)개로")}


def smooth_wrr_order(weights: list[int], picks: int) -> list[int]:
    """The lab's own algorithm, asked ``picks`` times; backends are numbered from 1 as in the text."""
    backends = [BackendState(f"backend-{i}", Endpoint("127.0.3.1", 18000 + i), weight=w)
                for i, w in enumerate(weights, start=1)]
    algorithm = SmoothWeightedRoundRobin()
    order = []
    for _ in range(picks):
        chosen = algorithm.choose(backends, client="127.0.9.1", now=0.0).backend
        assert chosen is not None
        order.append(int(chosen.name.rsplit("-", 1)[1]))
    return order


def _texts(value: object, path: str) -> Iterator[tuple[str, str, str]]:
    """(path, language, text) for every bilingual text of a content document."""
    if isinstance(value, dict):
        if isinstance(value.get("en"), str) and isinstance(value.get("ko"), str):
            yield path, "en", value["en"]
            yield path, "ko", value["ko"]
            return
        for key, item in value.items():
            yield from _texts(item, f"{path}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _texts(item, f"{path}[{index}]")


def _ints(text: str) -> list[int]:
    return [int(n) for n in re.findall(r"\d+", text)]


def _all_texts() -> list[tuple[str, str, str]]:
    return [(f"{path.name}{where}", lang, text) for path in sorted(FIXTURES.glob("*.json"))
            for where, lang, text in _texts(json.loads(path.read_text(encoding="utf-8")), "")]


def test_the_generator_is_the_lab_algorithm() -> None:
    # The algorithm's own docstring example (5, 1, 1 → a a b a c a a), so the helper is not circular.
    assert smooth_wrr_order([5, 1, 1], 7) == [1, 1, 2, 1, 3, 1, 1]


def test_every_weighted_round_robin_example_matches_the_lab() -> None:
    found = []
    for where, lang, text in _all_texts():
        for match in EXAMPLE.finditer(text):
            weights, order = _ints(match.group(1)), _ints(match.group(2))
            expected = smooth_wrr_order(weights, len(order))
            assert order == expected, f"{where}.{lang}: weights {weights} give {expected}, the text says {order}"
            found.append((where, lang, tuple(weights)))
    # The load-balancing lesson teaches 3, 3, 1, 1 in both languages; a regex that matched nothing would pass vacuously.
    assert {(lang, w) for _, lang, w in found} >= {("en", (3, 3, 1, 1)), ("ko", (3, 3, 1, 1))}, found


def test_the_weighted_try_it_states_the_weights_and_shares_the_action_uses() -> None:
    demo = [DEMO_WEIGHTS[f"backend-{i}"] for i in range(1, len(DEMO_WEIGHTS) + 1)]
    lessons = json.loads((FIXTURES / "16-load-balancing.json").read_text(encoding="utf-8"))["lessons"]
    steps = [s for lesson in lessons for s in lesson["steps"]
             if (s.get("lab_action") or {}).get("algorithm") == "weighted_round_robin"]
    assert steps, "no weighted round robin try-it step"
    for step in steps:
        for lang in ("en", "ko"):
            body = step["body"][lang]
            stated = [_ints(m.group(1)) for m in EXAMPLE.finditer(body)]
            assert demo in stated, f"{lang}: the try-it runs weights {demo}; the text states {stated}"
            shares = SHARES[lang].search(body)
            assert shares, f"{lang}: say how {step['lab_action']['requests']} requests split"
            requests, *split = _ints(shares.group(0))
            assert requests == step["lab_action"]["requests"]
            assert split == [requests * w // sum(demo) for w in demo]


def test_the_io_models_try_it_states_the_load_the_action_runs() -> None:
    load = IO_MODELS_LOAD
    free = load["oio_threads"] - load["idle"]
    numbers = {str(load["idle"]), str(load["clients"]), str(load["oio_threads"]), str(free),
               str(load["clients"] - free)}
    steps = [(f"{path.name} {lesson['slug']}/{n}", step) for path in sorted(FIXTURES.glob("*.json"))
             for lesson in json.loads(path.read_text(encoding="utf-8")).get("lessons", [])
             for n, step in enumerate(lesson["steps"], start=1)
             if (step.get("lab_action") or {}).get("kind") == "io_models"]
    assert steps, "no io_models try-it step"
    for where, step in steps:
        for lang in ("en", "ko"):
            said = set(re.findall(r"\d+", step["body"][lang]))
            assert numbers <= said, \
                f"{where}.{lang}: the action runs {load} ({free} free threads); missing {numbers - said}"
