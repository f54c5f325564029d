"""Generative answers: a language model writes from the numbered passages, each sentence it
writes is checked against the passages it cites (support.py) as soon as it is complete, and only
sentences that pass reach the reader. When none does, when the model finds no answer, or when
its server fails, the extractive answer stands in, with a note that says why.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace

from newsdesk import keyword, support
from newsdesk.chunk import sentence_spans
from newsdesk.cite import Numbering, generative_answer, sentence_text, stream_pieces
from newsdesk.config import Settings
from newsdesk.errors import GeneratorError
from newsdesk.llm import Model
from newsdesk.prompting import history_text, prompt
from newsdesk.retrieve import Hit
from newsdesk.types import Answer, AnswerSentence, DroppedSentence

log = logging.getLogger(__name__)

# What the prompts ask the model to reply when the passages hold no answer: a token of the
# protocol between code and prompt (given to the prompts as {no_answer}), not prose.
NO_ANSWER = "NOT IN THE PASSAGES"
_MARK = re.compile(r"\[\s*(?:passages?\s*)?(\d{1,3}(?:\s*[,;]\s*\d{1,3})*)\s*\]", re.IGNORECASE)
_BULLET = re.compile(r"^\s*(?:[-*•]|\d{1,2}[.)])\s+")
_SPACE_BEFORE_STOP = re.compile(r"\s+([.,;:!?])")
_CONFIRM_WORDS = 3  # words of the next sentence that confirm the one before has ended
# What the model is shown: a small model reads slowly (SmolLM2 took 27-50 s for eight whole
# passages on this machine) and loses its way in long prompts, so it gets the best passages'
# sentences that share the most words with the question, in the order the article has them.
SHOWN_PASSAGES = 5
SHOWN_SENTENCES = 3
MAX_REPEATS = 2  # sentences written again before the reply is taken to be looping


@dataclass(slots=True)
class _Run:
    """One answer being written: what passed, what was dropped, and why it may fall back."""

    numbering: Numbering = field(default_factory=Numbering)
    kept: list[AnswerSentence] = field(default_factory=list)
    dropped: list[DroppedSentence] = field(default_factory=list)
    declined: bool = False
    written: int = 0
    seen: set[str] = field(default_factory=set)
    repeats: int = 0
    error: str = ""
    first_at: float = 0.0


class Writer:
    """The generative answer step: the model writes, the check keeps or drops each sentence."""

    def __init__(self, settings: Settings) -> None:
        self.model = Model(settings)
        self.max_sentences = settings.max_sentences

    def start(self) -> None:
        """Connect to the model now (starting llama.cpp's server for a GGUF file)."""
        self.model.start()

    def close(self) -> None:
        """Stop the model server this writer started, if any."""
        self.model.close()

    def condense(self, question: str, history: Sequence[Mapping[str, str]]) -> str:
        """The follow-up as a stand-alone question (prompts/condense.txt); the question as asked
        when the model fails or replies with something that is not a question."""
        turns = [{"role": t["role"], "content": _MARK.sub("", t["content"]).strip()}
                 for t in history]
        text = prompt("condense").render(history=history_text(turns), question=question)
        try:
            reply = self.model.reply([("user", text)])
        except GeneratorError as exc:
            log.warning("the follow-up is read without the model: %s", exc)
            return question
        line = next((ln.strip().strip('"“”') for ln in reply.splitlines() if ln.strip()), "")
        line = line.split(":", 1)[1].strip() if line.lower().startswith("rewritten") else line
        if not line.endswith("?") or len(line) > 3 * len(question) + 200:
            log.info("kept the follow-up as asked; the model rewrote it as %r", line)
            return question
        return line

    def messages(self, question: str, hits: Sequence[Hit]) -> list[tuple[str, str]]:
        """The system and user messages: the numbered passages (their sentences closest to the
        question, never those that address a model) with outlet and date, and the question."""
        passage = prompt("passage")
        shown = []
        for number, hit in enumerate(hits, start=1):
            article = hit.article.article
            shown.append(passage.render(number=number, outlet=article.outlet or "outlet unknown",
                                        date=article.date or "undated",
                                        title=article.title or "untitled",
                                        text=excerpt(question, hit)))
        system = prompt("answer_system").render(max_sentences=self.max_sentences,
                                                no_answer=NO_ANSWER, passages="\n\n".join(shown))
        return [("system", system), ("user", prompt("answer").render(question=question))]

    def stream(self, question: str, hits: Sequence[Hit], started: float, retrieved_at: float,
               fallback: Callable[[], Answer]) -> Iterator[str | Answer]:
        """Each checked sentence (with its [n] markers) as it passes, then the final Answer."""
        run = _Run()
        hits = hits[:SHOWN_PASSAGES]
        if hits:
            yield from self._write(question, hits, run, started)
        done = time.perf_counter()
        timings = {"retrieve_ms": _ms(started, retrieved_at),
                   "generate_ms": _ms(retrieved_at, done), "total_ms": _ms(started, done)}
        if run.first_at:
            timings["first_sentence_ms"] = _ms(started, run.first_at)
        if run.kept:
            note = f"{run.error}; the answer may be cut short" if run.error else ""
            yield generative_answer(question, run.kept, run.numbering, hits, timings,
                                    run.dropped, note)
            return
        composing = time.perf_counter()
        answer = fallback()
        end = time.perf_counter()
        timings |= {"compose_ms": _ms(composing, end), "total_ms": _ms(started, end)}
        note = self._why_not(run, bool(hits))
        log.info("extractive answer instead: %s", note)
        yield from stream_pieces(answer.text)
        yield replace(answer, note=note, dropped=tuple(run.dropped),
                      timings={**answer.timings, **timings})

    def _write(self, question: str, hits: Sequence[Hit], run: _Run,
               started: float) -> Iterator[str]:
        try:
            for raw in complete_sentences(self.model.stream(self.messages(question, hits))):
                if NO_ANSWER.lower() in re.sub(r"[^\w ]", "", raw.lower()):
                    run.declined = not run.kept
                    return
                text, cited = parse(raw)
                if not text:
                    continue
                if text in run.seen:  # a small model loops; once it repeats itself, it is done
                    run.repeats += 1
                    if run.repeats >= MAX_REPEATS:
                        return
                    continue
                run.seen.add(text)
                run.written += 1
                verdict = support.check(text, cited, hits)
                if not verdict.passed:
                    run.dropped.append(DroppedSentence(text, cited, verdict.reason))
                    if run.written >= self.max_sentences:
                        return
                    continue
                marks = run.numbering.mark(verdict.quotes)
                sentence = AnswerSentence(text, marks, tuple(q.text for q in verdict.quotes), True)
                run.kept.append(sentence)
                run.first_at = run.first_at or time.perf_counter()
                yield sentence_text(sentence) + " "
                if run.written >= self.max_sentences:
                    return  # it was asked for at most this many; the rest is not read
        except GeneratorError as exc:
            run.error = str(exc)

    def _why_not(self, run: _Run, had_passages: bool) -> str:
        """Why the extractive answer stands in, for the reader."""
        label = self.model.spec.label
        tail = "this is the extractive answer"
        if not had_passages:
            return f"nothing was retrieved for {label} to write from; {tail}"
        if run.error:
            return f"{run.error}; {tail}"
        if run.declined:
            return f"{label} found no answer in the passages; {tail}"
        if not run.written:
            return f"{label} sent an empty reply; {tail}"
        return (f"none of the {run.written} sentence{'s' if run.written != 1 else ''} "
                f"{label} wrote passed the check; {tail}")


def excerpt(question: str, hit: Hit) -> str:
    """The passage's sentences that share the most words with the question (at most
    SHOWN_SENTENCES, in article order, "…" where sentences were left out)."""
    text = hit.article.article.text
    wanted = set(keyword.tokenize([question])[0])
    spans = [span for run in support.readable_runs(hit) for span in run]
    terms = keyword.tokenize([text[s:e] for s, e in spans])
    ranked = sorted(range(len(spans)), key=lambda i: (-len(wanted & set(terms[i])), i))
    keep = sorted(ranked[:SHOWN_SENTENCES])
    pieces: list[str] = []
    for position, index in enumerate(keep):
        if position and index != keep[position - 1] + 1:
            pieces.append("…")
        pieces.append(text[spans[index][0]:spans[index][1]])
    return " ".join(pieces)


def complete_sentences(pieces: Iterable[str]) -> Iterator[str]:
    """Sentences of a reply as it streams in: each one once the next has begun (or the reply
    has ended), with the [n] markers that follow it."""
    reply = ""
    emitted = 0
    for piece in pieces:
        reply += piece
        parts = split(reply)
        if len(parts) > 1 and len(parts[-1].split()) >= _CONFIRM_WORDS:
            yield from parts[emitted:len(parts) - 1]
            emitted = max(emitted, len(parts) - 1)
    yield from split(reply)[emitted:]


def split(text: str) -> list[str]:
    """A reply cut into sentences: by line, then by sentencex; markers that open a sentence
    ("… ban. [1] It said") go back to the one before."""
    out: list[str] = []
    for line in text.splitlines():
        line = _BULLET.sub("", line).strip()
        if not line:
            continue
        for start, end in sentence_spans(line):
            part = line[start:end].strip()
            lead = re.match(r"^(?:\s*\[[^\]]{1,20}\])+", part)
            if lead and out:
                out[-1] += " " + lead.group().strip()
                part = part[lead.end():].strip()
            if part:
                out.append(part)
    return out


def parse(sentence: str) -> tuple[str, tuple[int, ...]]:
    """A written sentence without its markers, and the passage numbers it cites."""
    cited = tuple(dict.fromkeys(int(n) for group in _MARK.findall(sentence)
                                for n in re.split(r"\s*[,;]\s*", group)))
    text = _SPACE_BEFORE_STOP.sub(r"\1", _MARK.sub("", sentence))
    text = " ".join(text.split()).strip()
    return text, cited


def _ms(start: float, end: float) -> float:
    return round(1000 * (end - start), 2)
