"""The errors newsdesk raises; each message says what the user should do next."""

from __future__ import annotations


class NewsdeskError(Exception):
    """Base of every error newsdesk raises on purpose."""


class UsageError(NewsdeskError):
    """An argument or setting has a value newsdesk cannot use."""


class LimitError(UsageError):
    """A question, its history or a client's pace is over the limits the settings allow."""


class IndexMissingError(NewsdeskError):
    """There is no index where one was expected."""


class IndexMismatchError(NewsdeskError):
    """The index was built with other settings than the ones asked for."""


class IndexBusyError(NewsdeskError):
    """Another process is writing to the same index."""


class StoreUnavailableError(NewsdeskError):
    """The Chroma server that holds the index's vectors cannot be reached."""


class IndexCorruptError(NewsdeskError):
    """The index files cannot be read."""


class EmbedderUnavailableError(NewsdeskError):
    """The embedding model asked for cannot be loaded here."""


class ArticleError(NewsdeskError):
    """One input file (or one record in it) cannot be ingested."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


class QuestionSetError(NewsdeskError):
    """A question set has a line that cannot be used."""

    def __init__(self, source: str, line: int, field: str, reason: str) -> None:
        where = f"{source}:{line}" + (f" field '{field}'" if field else "")
        super().__init__(f"{where}: {reason}")
        self.source = source
        self.line = line
        self.field = field
        self.reason = reason


class GeneratorError(NewsdeskError):
    """The generative answer server failed or answered something unusable."""
