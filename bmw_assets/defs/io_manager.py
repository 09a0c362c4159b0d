"""Persists each asset's manifest (paths, hashes, counts, resolved config) as JSON.

Weights, PDFs and datasets stay where the library wrote them under the storage
root; only the manifest that points at them travels between assets, so nothing
large goes through pickle. Paths are partition-aware: one file per partition.
"""

import json
from pathlib import Path
from typing import Any

import dagster as dg

from bmw_assets.atomic import write_json_atomic

UNPARTITIONED = "__all__"


class ManifestIOManager(dg.ConfigurableIOManager):
    """Stores `<root>/<asset key path>/<partition>.json`."""

    root: str

    def _path(self, asset_key: dg.AssetKey, partition: str | None) -> Path:
        return Path(self.root).joinpath(*asset_key.path, f"{partition or UNPARTITIONED}.json")

    def handle_output(self, context: dg.OutputContext, obj: dict[str, Any]) -> None:
        if obj is None:
            return
        partition = context.partition_key if context.has_partition_key else None
        path = self._path(context.asset_key, partition)
        write_json_atomic(path, obj)
        context.add_output_metadata({"manifest_path": dg.MetadataValue.path(str(path))})

    def load_input(self, context: dg.InputContext) -> Any:
        key = context.asset_key
        if not context.has_asset_partitions:
            return self._read(self._path(key, None))
        partitions = context.asset_partition_keys
        if context.has_partition_key:  # e.g. eval_report[v] reads trained_model[v]
            return self._read(self._path(key, partitions[0]))
        # A fan-in (all variants into one asset): missing partitions stay missing.
        return {p: self._read(self._path(key, p)) for p in partitions if self._path(key, p).exists()}

    @staticmethod
    def _read(path: Path) -> dict[str, Any]:
        if not path.exists():
            raise FileNotFoundError(f"no manifest at {path}: materialize the upstream asset first")
        return json.loads(path.read_text())
