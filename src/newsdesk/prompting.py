"""The prompt files of generative mode (the top-level prompts/ folder), rendered with llama-index's
PromptTemplate with every variable required: the code holds no prompt prose."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

from newsdesk.errors import UsageError

# Each prompt file and the variables it must use, no more and no fewer.
VARIABLES: Mapping[str, frozenset[str]] = {
    "answer_system": frozenset({"max_sentences", "no_answer", "passages"}),
    "answer": frozenset({"question"}),
    "passage": frozenset({"number", "outlet", "date", "title", "text"}),
    "condense": frozenset({"history", "question"}),
    "history_turn": frozenset({"role", "content"}),
}


def folder() -> Traversable:
    """Where the prompt files are: inside the installed package (the wheel ships the top-level
    prompts/ folder as newsdesk/prompts/), else the top-level folder of a source checkout."""
    shipped = resources.files("newsdesk") / "prompts"
    if shipped.is_dir():
        return shipped
    return Path(__file__).resolve().parents[2] / "prompts"


@dataclass(frozen=True, slots=True)
class Prompt:
    """One prompt file as a llama-index PromptTemplate."""

    name: str
    template: Any  # llama_index.core.prompts.PromptTemplate

    def render(self, **values: object) -> str:
        """The prompt with every variable filled; a missing or unknown variable is an error."""
        wanted = VARIABLES[self.name]
        if set(values) != wanted:
            raise UsageError(f"prompt {self.name}: given {sorted(values)}, needs {sorted(wanted)}")
        text: str = self.template.format(**{k: str(v) for k, v in values.items()})
        return text.strip()


@cache
def prompt(name: str) -> Prompt:
    """The prompt file prompts/NAME.txt, checked to use exactly its variables."""
    from llama_index.core.prompts import PromptTemplate

    path = folder() / f"{name}.txt"
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"prompt file {path} cannot be read: {exc}") from exc
    template = PromptTemplate(text)
    found = set(template.template_vars)
    if found != VARIABLES[name]:
        raise UsageError(f"prompt file {path} uses {{{', '.join(sorted(found))}}}; it must use "
                         f"exactly {{{', '.join(sorted(VARIABLES[name]))}}}")
    return Prompt(name, template)


def history_text(history: Sequence[Mapping[str, str]]) -> str:
    """The conversation so far, one rendered turn after another."""
    return "\n".join(prompt("history_turn").render(role=t["role"], content=t["content"])
                     for t in history)
