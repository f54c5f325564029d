"""A synthetic news archive whose vocabulary grows with its size, for benchmarks at scale.

Like synth.py, articles are sentences recombined from real prose — the BBC development archive
in ../shared/bbc when it is there, else the sample corpus — but the proper names in them are
replaced by names drawn from a pool of hundreds of thousands (people, companies, places;
common ones often, rare ones rarely: a Zipf law, as in news), numbers and years vary, and now
and then a sentence carries a rare word of its own. So a big archive has what a real one has
for its keyword index: a long tail of names and words, most of them in a few articles only.
"""

from __future__ import annotations

import random
import re
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
BBC = ROOT.parent / "shared" / "bbc" / "articles"
SAMPLE = ROOT / "corpus"
_SYLLABLES = ("ba", "be", "bi", "bo", "bu", "da", "de", "di", "do", "du", "fa", "fe", "fi", "ga",
              "go", "ka", "ke", "ki", "ko", "la", "le", "li", "lo", "lu", "ma", "me", "mi", "mo",
              "mu", "na", "ne", "ni", "no", "nu", "pa", "pe", "pi", "po", "ra", "re", "ri", "ro",
              "ru", "sa", "se", "si", "so", "ta", "te", "ti", "to", "va", "ve", "vi", "vo", "za",
              "ze", "zo", "bra", "dre", "kri", "plo", "tra", "vel", "mar", "ton", "sen", "dor", "lin", "gar")
_SUFFIXES = ("", "son", "ski", "ez", "er", "ova", "ani", "sen", "berg", "ford", "ton", "elli")
_COMPANY = ("Holdings", "Group", "Analytics", "Systems", "Bank", "Motors", "Media", "Energy",
            "Labs", "Foods", "Airlines", "Pharma", "Capital", "Networks", "Studios", "Mining")
_OUTLETS = [f"{a} {b}" for a in ("Harbor", "Valley", "Metro", "Civic", "Northern", "Coastal",
                                 "Capital", "Evening", "Morning", "Daily")
            for b in ("Times", "Ledger", "Wire", "Post", "Dispatch")]
_NAME = re.compile(r"(?<=[a-z,;:] )[A-Z][a-z]+(?: [A-Z][a-z]+)*")
_NUMBER = re.compile(r"\b\d+(?:[.,]\d+)*\b")
_YEAR = re.compile(r"\b(19|20)\d\d\b")
_POOL = 400_000  # distinct names and rare words to draw from


def sentences() -> tuple[list[str], str]:
    """The prose sentences to recombine, and where they come from."""
    source, paths = "the BBC development archive", sorted(BBC.rglob("*.txt"))
    if not paths:
        source, paths = "the sample corpus", sorted(SAMPLE.glob("*.txt"))
    out: list[str] = []
    for path in paths:
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
        body = text.split("\n", 1)[-1]
        for sentence in re.split(r"(?<=[.!?])\s+", body):
            sentence = " ".join(sentence.split())
            if 8 <= len(sentence.split()) <= 60:
                out.append(sentence)
    return out, source


def _word(rank: int) -> str:
    """The rank-th made-up word: two or three syllables and a suffix (deterministic)."""
    n = len(_SYLLABLES)
    first, second, third = rank % n, (rank // n) % n, (rank // (n * n)) % n
    suffix = _SUFFIXES[(rank // (n * n * n)) % len(_SUFFIXES)]
    parts = [_SYLLABLES[first], _SYLLABLES[second]] + ([_SYLLABLES[third]] if rank >= n * n else [])
    return "".join(parts) + suffix


class Generator:
    """Writes articles; the same seed gives the same archive."""

    def __init__(self, seed: int = 7) -> None:
        self.rng = random.Random(seed)
        self.np_rng = np.random.default_rng(seed)
        self.sentences, self.source = sentences()
        self._ranks: list[int] = []

    def _rank(self) -> int:
        """A Zipf-distributed rank in the pool (rank 1 is the most common)."""
        if not self._ranks:
            self._ranks = np.minimum(self.np_rng.zipf(1.15, 4096), _POOL).tolist()
        return self._ranks.pop()

    def name(self) -> str:
        """A person, a company or a place."""
        rank = self._rank()
        kind = rank % 3
        if kind == 0:
            return f"{_word(rank // 3 % 900).capitalize()} {_word(rank).capitalize()}"
        if kind == 1:
            return f"{_word(rank).capitalize()} {_COMPANY[rank % len(_COMPANY)]}"
        return _word(rank).capitalize()

    def sentence(self) -> str:
        """A sentence with its names, numbers and years varied."""
        rng = self.rng
        out = _NAME.sub(lambda _: self.name(), rng.choice(self.sentences))
        out = _YEAR.sub(lambda _: str(rng.randint(1995, 2025)), out)
        out = _NUMBER.sub(lambda m: m.group(0) if len(m.group(0)) == 4 else
                          f"{rng.randint(2, 9999):,}", out)
        if rng.random() < 0.2:
            out = out.rstrip(".") + f", the {_word(self._rank())} said."
        return out

    def article(self, chunks: int) -> str:
        """A headline, a byline, a date line, paragraphs of about `chunks` chunks, an outlet."""
        rng = self.rng
        lines = [f"{self.name()} and the {_word(self._rank())} question",
                 f"By {self.name()}",
                 f"Published: {rng.randint(2000, 2025)}-{rng.randint(1, 12):02d}-"
                 f"{rng.randint(1, 28):02d}", ""]
        written = 0
        while written < chunks * 1050:
            paragraph = " ".join(self.sentence() for _ in range(rng.randint(3, 5)))
            lines += [paragraph, ""]
            written += len(paragraph)
        lines.append(rng.choice(_OUTLETS))
        return "\n".join(lines) + "\n"


def build(folder: Path, n: int, chunks: int = 10, seed: int = 7) -> str:
    """Write n articles as .txt files, 1,000 to a sub-folder; returns the sentences' source."""
    generator = Generator(seed)
    for i in range(n):
        path = folder / f"{i // 1000:03d}" / f"{i:06d}.txt"
        if i % 1000 == 0:
            path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(generator.article(chunks), encoding="utf-8")
    return generator.source
