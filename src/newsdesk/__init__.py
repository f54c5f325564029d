"""newsdesk: ask a news archive a question; every claim in the answer cites its passage.

Names are imported on first use, so that `import newsdesk` (and the helper processes of a
big ingest) stay fast.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from newsdesk.config import Settings
    from newsdesk.desk import Desk, ask
    from newsdesk.errors import (
        ArticleError,
        EmbedderUnavailableError,
        IndexBusyError,
        IndexCorruptError,
        IndexMismatchError,
        IndexMissingError,
        LimitError,
        NewsdeskError,
        QuestionSetError,
        UsageError,
    )
    from newsdesk.evaluation import EvalReport, evaluate
    from newsdesk.types import Answer, ArticleInfo, Citation, IngestReport, Passage

_EXPORTS = {
    "Settings": "newsdesk.config",
    "Desk": "newsdesk.desk",
    "ask": "newsdesk.desk",
    "evaluate": "newsdesk.evaluation",
    "EvalReport": "newsdesk.evaluation",
    "Answer": "newsdesk.types",
    "ArticleInfo": "newsdesk.types",
    "Citation": "newsdesk.types",
    "IngestReport": "newsdesk.types",
    "Passage": "newsdesk.types",
    "ArticleError": "newsdesk.errors",
    "EmbedderUnavailableError": "newsdesk.errors",
    "IndexBusyError": "newsdesk.errors",
    "IndexCorruptError": "newsdesk.errors",
    "IndexMismatchError": "newsdesk.errors",
    "IndexMissingError": "newsdesk.errors",
    "LimitError": "newsdesk.errors",
    "NewsdeskError": "newsdesk.errors",
    "QuestionSetError": "newsdesk.errors",
    "UsageError": "newsdesk.errors",
}

__all__ = [
    "Answer",
    "ArticleError",
    "ArticleInfo",
    "Citation",
    "Desk",
    "EmbedderUnavailableError",
    "EvalReport",
    "IndexBusyError",
    "IndexCorruptError",
    "IndexMismatchError",
    "IndexMissingError",
    "IngestReport",
    "LimitError",
    "NewsdeskError",
    "Passage",
    "QuestionSetError",
    "Settings",
    "UsageError",
    "ask",
    "evaluate",
]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'newsdesk' has no attribute {name!r}")
