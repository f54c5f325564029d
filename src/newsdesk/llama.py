"""newsdesk's hybrid retrieval as a LlamaIndex retriever, for programs built on LlamaIndex.

Imported only when asked for: LlamaIndex takes 1.6 s to import, which the CLI does not pay.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from newsdesk.desk import Desk


def retriever(desk: Desk, k: int = 10, filters: Any = None) -> Any:
    """A `llama_index.core.retrievers.BaseRetriever` whose nodes are newsdesk passages."""
    from llama_index.core.retrievers import BaseRetriever
    from llama_index.core.schema import NodeWithScore, QueryBundle, TextNode

    class NewsdeskRetriever(BaseRetriever):
        """Hybrid (dense + BM25) retrieval over a newsdesk archive, duplicates collapsed."""

        def _retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
            passages = desk.search(query_bundle.query_str, k=k, filters=filters)
            return [NodeWithScore(node=TextNode(
                id_=p.id, text=p.text,
                metadata={"source": p.source, "sources": list(p.sources), "title": p.title,
                          "outlet": p.outlet, "date": p.date, "start": p.start, "end": p.end}),
                score=p.score) for p in passages]

    return NewsdeskRetriever()
