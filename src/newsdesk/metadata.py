"""Questions about an article itself — who wrote it, which outlet published it, when, under what
headline — answered from the catalog's metadata and cited to the article."""

from __future__ import annotations

import re
from datetime import date

from newsdesk.catalog import StoredArticle
from newsdesk.chunk import paragraph_spans
from newsdesk.question import lexicon
from newsdesk.quotes import Quote, Statement


def about_article(question: str) -> str:
    """The metadata field a question asks for ("author", "outlet", "date", "title"), or ''."""
    lowered = " ".join(question.lower().split())
    for field, patterns in lexicon().metadata.items():
        if any(p.search(lowered) for p in patterns):
            return field
    return ""


def metadata_statement(stored: StoredArticle, field: str) -> Statement | None:
    """The answer drawn from one metadata field of the article, or None when the article does
    not record it."""
    article = stored.article
    value = str(getattr(article, field))
    if not value:
        return None
    lead = paragraph_spans(article.text)[:1] or [(0, 0)]
    quote = Quote(stored, 0, 0, lead[0][0], lead[0][1], field=field)
    title = f"“{article.title}”" if article.title else "The article"
    where = ", ".join(p for p in (article.outlet, _day(article.date)) if p)
    about = f"{title} ({where})" if where and field not in ("outlet", "date") else title
    on = f" on {_day(article.date)}" if article.date else ""
    by = f" by {article.outlet}" if article.outlet else ""
    wording = {
        "author": f"{about} was written by {value}.",
        "outlet": f"{title} was published by {value}{on}.",
        "date": f"{title} was published on {_day(value)}{by}.",
        "title": f"Its headline is “{value}”.",
    }[field]
    return Statement((quote,), wording=wording)


def _day(iso: str) -> str:
    """An ISO day as a reader says it: 18 May 2021."""
    if not re.fullmatch(r"\d{4}-\d\d-\d\d", iso or ""):
        return iso
    day = date.fromisoformat(iso)
    return f"{day.day} {day:%B %Y}"
