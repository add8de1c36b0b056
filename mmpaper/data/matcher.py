"""The shop's matching step: the products a query's words match, as the paper's introduction describes product
search (lexical matching of query and product terms). Okapi BM25 over the product titles, from ``bm25s``.

The world's seen negatives are what this matcher returned for a query and the query did not buy
(``WorldConfig.seen_negative_source = "matcher"``), as the paper defines them: products "matched for a query but
without purchase records". A query written in the shopper's words ("trainers", "kicks") matches a title in the
catalog's words ("sneakers") only through the words they share, so what the matcher returns is not what the shopper
weighed when buying.
"""
from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor

import numpy as np


class LexicalMatcher:
    """BM25 (``bm25s``, Lucene's variant) over ``titles``; :meth:`match` returns each query's matched products."""

    def __init__(self, titles: list[str]):
        import bm25s  # the matcher's library: loaded when a world is generated

        # bm25s sets its own logger to DEBUG when imported, so every index it builds is announced: put it back
        logging.getLogger("bm25s").setLevel(logging.WARNING)

        self._tokenize = lambda texts: bm25s.tokenize(list(texts), stopwords=None, show_progress=False,
                                                      return_ids=False)
        self.retriever = bm25s.BM25(method="lucene", backend="numpy")
        self.retriever.index(bm25s.tokenize(list(titles), stopwords=None, show_progress=False), show_progress=False)
        self.n_products = len(titles)

    def scores(self, query: str) -> np.ndarray:
        """BM25 score of every product for one query (0 where the query shares no word with the title)."""
        tokens = self._tokenize([query])[0]
        if not tokens:
            return np.zeros(self.n_products, dtype=np.float32)
        return np.asarray(self.retriever.get_scores(tokens), dtype=np.float32)

    def match(self, queries: list[str], depth: int, workers: int = 1) -> list[np.ndarray]:
        """For each query, the product rows it matches (a positive score), best first and at most ``depth``;
        ties are broken by product row, so the same world gives the same matches. ``workers`` threads share the
        queries (each query is scored alone, so the matches are the same with any number)."""
        if depth < 1:
            raise ValueError(f"matcher depth must be a positive integer, got {depth}")

        def one(query: str) -> np.ndarray:
            s = self.scores(query)
            hit = np.flatnonzero(s > 0)
            return hit[np.lexsort((hit, -s[hit]))][:depth].astype(np.int64)

        if workers <= 1 or len(queries) < 2:
            return [one(q) for q in queries]
        with ThreadPoolExecutor(workers) as pool:
            return list(pool.map(one, queries, chunksize=256))
