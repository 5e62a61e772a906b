"""One Korean vocabulary: find where Korean learner text strays from ``docs/terms.ko.tsv``.

Why a checker and not a rewriter: instructors write freely in the admin and in the fixtures; the
test (``tests/lessons/test_terms_ko.py``) reports each stray form with its file, field and the
reason written next to the term, and a person decides. Two kinds of findings:

- a form the term list says to avoid (``로드밸런서`` where the course says ``로드 밸런서``);
- a particle that does not fit how an English word is read (``TIME_WAIT은``: 웨이트 ends in a vowel,
  so ``TIME_WAIT는``), from ``docs/terms.ko.particles.tsv``.

Code, glossary link targets, URLs and a parenthesised English gloss are not Korean prose, so they
are masked before checking. Plain Python (no Django): the lab-free test and scripts can use it.
"""
from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
TERMS_PATH = ROOT / "docs" / "terms.ko.tsv"
PARTICLES_PATH = ROOT / "docs" / "terms.ko.particles.tsv"

#: What is not Korean prose: fenced and inline code, the target of ``[[target|shown]]`` (the shown
#: text is still checked), URLs, and a parenthesised gloss without Hangul, e.g. ``(active/standby)``.
_MASKS = (
    re.compile(r"```.*?```", re.S),
    re.compile(r"`[^`\n]*`"),
    re.compile(r"\[\[[^\]|]*\|"),
    re.compile(r"\[\[[^\]]*\]\]"),
    re.compile(r"\b[a-z][a-z0-9+.-]*://\S*|(?<![\w.])/[a-z0-9_/.-]*/"),
    re.compile(r"\([^()가-힣\n]*\)"),
)

#: Particle pairs: (after a vowel, after a consonant). After ㄹ, 로 is right (URL로), as after a vowel.
_PAIRS = {"는": "은", "가": "이", "를": "을", "와": "과", "로": "으로"}
_RIGHT = {
    "vowel": {"는", "가", "를", "와", "로"},
    "consonant": {"은", "이", "을", "과", "으로"},
    "rieul": {"은", "이", "을", "과", "로"},
}
_OTHER = {**_PAIRS, **{after_consonant: after_vowel for after_vowel, after_consonant in _PAIRS.items()}}
_ALL_PARTICLES = sorted({*_PAIRS, *_PAIRS.values()}, key=len, reverse=True)
#: What may follow a particle and still be that particle (TCP로는, SYN과의); anything else Hangul
#: means the syllable is part of another word (TCP이므로 is the copula, not a subject particle).
_AFTER = r"(?:(?<=로)(?:서|써|는|도|의|만|부터)|(?<=[과와])(?:의|는|도))?(?![가-힣])"


@dataclass(frozen=True)
class Term:
    ko: str
    en: str
    avoid: tuple[re.Pattern[str], ...]
    why: str


@dataclass(frozen=True)
class Finding:
    where: str
    found: str
    advice: str

    def __str__(self) -> str:
        return f"{self.where}: {self.found!r} — {self.advice}"


def _rows(path: Path) -> Iterator[list[str]]:
    lines = [line for line in path.read_text(encoding="utf-8").splitlines() if line and not line.startswith("#")]
    for line in lines[1:]:  # the first non-comment line is the header
        yield line.split("\t")


def _avoid_pattern(form: str) -> re.Pattern[str]:
    # re.ASCII: a word boundary is between ASCII and anything else, so "walk를" is a whole word.
    if form.startswith("re:"):
        return re.compile(form[3:], re.ASCII)
    escaped = re.escape(form)
    if form.isascii():
        return re.compile(rf"(?<![\w-]){escaped}(?![\w-])", re.ASCII)
    return re.compile(escaped)


def load_terms(path: Path = TERMS_PATH) -> list[Term]:
    terms = []
    for ko, en, avoid, why in _rows(path):
        forms = tuple(f.strip() for f in avoid.split(" ; ") if f.strip())
        terms.append(Term(ko, en, tuple(_avoid_pattern(f) for f in forms), why))
    return terms


def load_particles(path: Path = PARTICLES_PATH) -> dict[str, str]:
    """English word → ``vowel``, ``consonant`` or ``rieul`` (how its reading ends)."""
    return {word: final for word, final, *_ in _rows(path)}


def prose(text: str) -> str:
    """The Korean prose of a Markdown text: code, link targets, URLs and glosses blanked out.

    Blanks keep the length, so a position in the prose is the same position in the text.
    """
    for mask in _MASKS:
        text = mask.sub(lambda match: " " * len(match.group(0)), text)
    return text


def _particle_pattern(particles: dict[str, str]) -> re.Pattern[str]:
    words = "|".join(re.escape(w) for w in sorted(particles, key=len, reverse=True))
    ends = "|".join(_ALL_PARTICLES)
    # The word may sit in code or bold: `TIME_WAIT`은, **SYN**을.
    return re.compile(rf"(?<![\w/.-])`?\**({words})`?\**({ends}){_AFTER}", re.ASCII)


class Checker:
    """Checks Korean texts against the term list and the particle table."""

    def __init__(self, terms: list[Term] | None = None, particles: dict[str, str] | None = None) -> None:
        self.terms = load_terms() if terms is None else terms
        self.particles = load_particles() if particles is None else particles
        self._particle_re = _particle_pattern(self.particles)

    def check(self, text: str, where: str) -> list[Finding]:
        findings = []
        plain = prose(text)
        for term in self.terms:
            for pattern in term.avoid:
                for match in pattern.finditer(plain):
                    findings.append(Finding(where, match.group(0), f"use {term.ko!r} ({term.en}) instead: {term.why}"))
        # Particles are read from the raw text: code spans around the word still take a particle.
        for match in self._particle_re.finditer(text):
            word, particle = match.group(1), match.group(2)
            final = self.particles[word]
            if particle in _RIGHT[final]:
                continue
            right = _OTHER[particle]
            findings.append(Finding(where, match.group(0).strip(),
                                    f"{word} is read ending in a {final}: write {word}{right}, not {word}{particle}"))
        return findings

    def check_all(self, texts: Iterable[tuple[str, str]]) -> list[Finding]:
        return [finding for where, text in texts for finding in self.check(text, where)]


def korean_fields(document: Any, path: str = "") -> Iterator[tuple[str, str]]:
    """Every Korean text of a content document, with its path (``lessons[load-balancing].steps[5].body.ko``).

    Lists are indexed by the item's stable key (slug, key, term) when it has one, so a report
    stays readable; steps keep their 0-based index as in the format's own error paths.
    """
    if isinstance(document, dict):
        if isinstance(document.get("ko"), str) and "en" in document:
            yield f"{path}.ko", document["ko"]
            return
        for key, value in document.items():
            yield from korean_fields(value, f"{path}.{key}" if path else key)
    elif isinstance(document, list):
        for index, item in enumerate(document):
            label = next((item[k] for k in ("slug", "key", "term")
                          if isinstance(item, dict) and isinstance(item.get(k), str)), index)
            yield from korean_fields(item, f"{path}[{label}]")


def po_translations(path: Path) -> Iterator[tuple[str, str]]:
    """Every translated string of a Korean ``.po`` file, located by line number and msgid."""
    import polib  # type: ignore[import-untyped]  # pinned; imported here so the module loads without it

    for entry in polib.pofile(str(path)):
        texts = [entry.msgstr, *entry.msgstr_plural.values()] if entry.msgstr_plural else [entry.msgstr]
        for text in texts:
            if text:
                yield f"line {entry.linenum} msgid {entry.msgid[:50]!r}", text
