"""PDF text: time-capped pypdf extraction, rule-based cleaning, and cleaning-quality scores."""

from bmw_assets.text.cleaning import CleanedText, clean_pdf_text
from bmw_assets.text.extraction import (
    ExtractedText,
    PdfTextExtractor,
    extract_pdf_text,
    read_pdf_pages,
)
from bmw_assets.text.quality import PRF, token_prf
from bmw_assets.text.rules import CLEANING_RULES, CleaningRule

__all__ = [
    "CLEANING_RULES",
    "CleanedText",
    "CleaningRule",
    "ExtractedText",
    "PRF",
    "PdfTextExtractor",
    "clean_pdf_text",
    "extract_pdf_text",
    "read_pdf_pages",
    "token_prf",
]
