"""Every reader and writer of xenc's files: the one place raw lines and dicts become records.

``files`` (opening a path or ``-``, compressed input, line reading, atomic output), ``jsonl``
(one JSON object a line), ``corpus`` (documents and queries), ``qrels`` (judgments and the
relevance rule), ``runs`` (TREC and JSONL runs), ``pairs`` (text pairs to score or learn
from), ``requests`` (``xenc rerank``'s requests) and ``output`` (results, tables, reports).
This package imports nothing of xenc but the shared vocabulary (errors, records, config).
"""
