"""The DuckDB catalog: metadata for articles, attachments, texts, LLM decisions,
datasets, training runs and evaluation results, and what could not be fetched.

`schema` holds the tables and their migrations, `connection` opens the file; the queries
live in one module per table group (`articles`, `texts`, `datasets`, `runs`,
`evaluations`, `failure_counts`), each taking an open connection so that callers choose
how long to hold the file and which writes share a transaction.
"""

from bmw_assets.catalog.connection import LOCK_TIMEOUT_S, connect, migrate, rows_as_dicts, transaction
from bmw_assets.catalog.schema import MIGRATIONS, SCHEMA_VERSION

__all__ = [
    "LOCK_TIMEOUT_S",
    "MIGRATIONS",
    "SCHEMA_VERSION",
    "connect",
    "migrate",
    "rows_as_dicts",
    "transaction",
]
