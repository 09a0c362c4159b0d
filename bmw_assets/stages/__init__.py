"""The work behind each data asset: read the catalog, call the library, write the
catalog. Plain Python (no Dagster), so each stage is testable alone and an asset
body stays a few lines."""
