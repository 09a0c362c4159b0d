"""The BMW Group PressClub client: polite discovery of articles and download of their PDFs."""

from bmw_assets.pressclub.crawl import fetch_articles, newest_article_ids
from bmw_assets.pressclub.download import download_attachments
from bmw_assets.pressclub.http_client import FetchError
from bmw_assets.pressclub.records import (
    ArticleRecord,
    AttachmentRecord,
    DownloadResult,
    FetchResult,
    ItemFailure,
    TransferStats,
)
from bmw_assets.pressclub.settings import ClientSettings

__all__ = [
    "ArticleRecord",
    "AttachmentRecord",
    "ClientSettings",
    "DownloadResult",
    "FetchError",
    "FetchResult",
    "ItemFailure",
    "TransferStats",
    "download_attachments",
    "fetch_articles",
    "newest_article_ids",
]
