"""A deterministic synthetic copy of the BMW Group PressClub, served on loopback.

`build_corpus` makes the articles (with ground-truth bodies and facts), `render_press_pdf`
their press PDFs, `ReplicaServer` serves feeds, pages and attachments with optional
faults, and `ensure_replica_running` keeps one running for the local profile.
"""

from bmw_assets.replica.corpus import (
    Fact,
    ReplicaArticle,
    ReplicaAttachment,
    build_corpus,
)
from bmw_assets.replica.faults import Faults
from bmw_assets.replica.server import ReplicaServer, ensure_replica_running

__all__ = [
    "Fact",
    "Faults",
    "ReplicaArticle",
    "ReplicaAttachment",
    "ReplicaServer",
    "build_corpus",
    "ensure_replica_running",
]
