"""A synthetic news archive for benchmarks: sentences recombined from the sample corpus.

Each article gets a headline, a byline, a date line, paragraphs of 3-5 sentences drawn from
the sample articles with their names, numbers and years varied, and some boilerplate lines,
so that cleaning, chunking, embedding and both indexes do their real work.
"""

from __future__ import annotations

import random
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "corpus"
_NAMES = ["Amazon", "Microsoft", "IBM", "Google", "Clearview", "Axon", "Palantir", "Motorola",
          "NEC", "Idemia", "Cognitec", "Verint", "Ring", "Nest", "Flock", "ShotSpotter"]
_PLACES = ["Seattle", "Portland", "Oakland", "Boston", "Denver", "Austin", "Chicago", "Miami",
           "Detroit", "Phoenix", "Atlanta", "Baltimore", "San Diego", "Minneapolis"]
_OUTLETS = ["Harbor Times", "Valley Ledger", "Metro Wire", "Civic Post", "Tech Dispatch"]
_WORDS = ["audit", "contract", "pilot", "lawsuit", "hearing", "budget", "ordinance", "review",
          "report", "vote", "settlement", "inquiry", "waiver", "subpoena", "charter", "grant"]
_BOILERPLATE = ["Advertisement", "Share this article", "READ MORE: Related coverage",
                "Sign up for our daily newsletter to get the top stories"]


def sample_sentences() -> list[str]:
    """The prose sentences of the sample corpus."""
    text = " ".join(p.read_text(encoding="utf-8") for p in sorted(SAMPLE.glob("*.txt")))
    sentences = re.split(r"(?<=[.!?])\s+", text)
    return [s.strip() for s in sentences if 8 <= len(s.split()) <= 60]


def _vary(sentence: str, rng: random.Random) -> str:
    out = re.sub(r"\b(Amazon|Microsoft|IBM|Google)\b", lambda _: rng.choice(_NAMES), sentence)
    out = re.sub(r"\b(Seattle|Portland|Oakland|San Francisco|Massachusetts)\b",
                 lambda _: rng.choice(_PLACES), out)
    out = re.sub(r"\b(19|20)\d\d\b", lambda _: str(rng.randint(2008, 2025)), out)
    out = re.sub(r"\b\d{1,3}(,\d{3})?\b", lambda _: f"{rng.randint(2, 9999):,}", out)
    extra = rng.choice(_WORDS)
    return out.rstrip(".") + f", according to the {rng.choice(_PLACES)} {extra} {rng.randint(1, 999)}."


def article(rng: random.Random, sentences: list[str], chunks: int = 10) -> str:
    """One article of roughly `chunks` chunks (about 2,300 characters of prose per chunk... / 2)."""
    lines = [f"{rng.choice(_NAMES)} faces new {rng.choice(_WORDS)} over face recognition in "
             f"{rng.choice(_PLACES)}",
             f"By {rng.choice(['Ana', 'Ben', 'Chloe', 'Dev'])} {rng.choice(['Ortiz', 'Shah', 'Kim'])}",
             f"Published: {rng.randint(2015, 2025)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
             ""]
    prose_chars = chunks * 1050
    written = 0
    while written < prose_chars:
        paragraph = " ".join(_vary(rng.choice(sentences), rng) for _ in range(rng.randint(3, 5)))
        lines += [paragraph, ""]
        written += len(paragraph)
        if rng.random() < 0.15:
            lines += [rng.choice(_BOILERPLATE), ""]
    lines.append(rng.choice(_OUTLETS))
    return "\n".join(lines) + "\n"


def build(folder: Path, n: int, chunks: int = 10, seed: int = 7) -> list[Path]:
    """Write n articles as .txt files into folder (created); returns their paths."""
    rng = random.Random(seed)
    sentences = sample_sentences()
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        path = folder / f"{i:06d}_synthetic.txt"
        path.write_text(article(rng, sentences, chunks), encoding="utf-8")
        paths.append(path)
    return paths
