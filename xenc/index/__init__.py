"""The index directory: its format, how it is built, updated, locked, verified and read.

``store.py`` (files, manifest, generations, document store), ``locking.py`` (writer lock,
staging, publishing), ``build.py`` and ``update.py`` (writing generations), ``verify.py``,
``reader.py`` (:class:`Index`, an opened generation), and the parts: ``bm25.py``,
``hnsw.py``, ``tokenize.py``, ``chunking.py``. Nothing here imports the stages, the use cases
or the CLI; see docs/architecture.md.
"""
