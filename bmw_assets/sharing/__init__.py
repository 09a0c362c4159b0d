"""Sharing a dataset and trained variants: Hugging Face cards, the merged export, Hub upload and download."""
