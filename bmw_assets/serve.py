"""Serve a trained variant through an OpenAI-compatible API on loopback:
`python -m bmw_assets.serve VARIANT [--port 8000] [--storage DIR]`.

Finds the variant's newest finished run under the storage root (its `manifest.json` files, which
need no catalog connection, so a running Dagster keeps its DuckDB lock), exports it (a LoRA
adapter is merged and checked, see bmw_assets.sharing.export), runs `transformers serve` on the
export, prints the base URL and model id, and stops the server on Ctrl-C or SIGTERM. For GPUs and
other hosts, serve the same exported folder with vLLM (docs/serving.md).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bmw_assets.run_folders import MANIFEST_FILE, TrainingRunFolder
from bmw_assets.stop_signals import interrupt_on_stop_signals

DEFAULT_PORT = 8000


def latest_run(models_dir: Path, variant: str) -> dict[str, Any]:
    """The manifest of `variant`'s most recently completed run under `models_dir`
    (`<variant>/<run_id>/manifest.json`, newest `completed_at`); FileNotFoundError naming the
    variants that do have runs when it has none."""
    runs = [TrainingRunFolder(run_dir) for run_dir in Path(models_dir).glob(f"{variant}/*") if run_dir.is_dir()]
    manifests = [manifest for run in runs if (manifest := run.read_manifest())]
    if not manifests:
        trained = sorted(p.parent.parent.name for p in Path(models_dir).glob(f"*/*/{MANIFEST_FILE}"))
        raise FileNotFoundError(
            f"no finished run of variant {variant!r} under {models_dir}; variants with runs: "
            f"{sorted(set(trained)) or 'none (materialize trained_model first)'}"
        )
    return max(manifests, key=lambda manifest: manifest["completed_at"])


def serve_variant(
    variant: str, storage_root: Path, port: int = DEFAULT_PORT, *, startup_timeout_s: float = 300.0,
    progress: Callable[[str], None] = print,
) -> int:  # fmt: skip
    """Export and serve `variant` on 127.0.0.1:`port` until interrupted; return the exit status
    (0 after Ctrl-C/SIGTERM, 1 when the server dies). Raises RuntimeError when something already
    answers on the port (it would be reused silently, whatever model it serves)."""
    from bmw_assets.llm_filter.endpoint import LocalEndpoint, is_healthy
    from bmw_assets.settings import StorageLayout
    from bmw_assets.sharing.export import export_variant

    layout = StorageLayout(Path(storage_root))
    trained = latest_run(layout.models_dir, variant)
    progress(f"variant {variant}: run {trained['run_id']} ({trained['method']}, {trained['layers']} layers)")
    exported = export_variant(trained, progress=progress)
    endpoint = LocalEndpoint(exported.model_dir, port, layout.root / "logs" / f"serve-{variant}.log", startup_timeout_s)
    if is_healthy(endpoint.base_url):
        raise RuntimeError(f"a server already answers on port {port}; stop it or pick another --port")
    interrupt_on_stop_signals()
    endpoint.start()
    try:
        progress(f"base URL: {endpoint.base_url}")
        progress(f"model id: {exported.model_dir}")
        progress(f"log: {endpoint.log_path}; Ctrl-C stops the server")
        while is_healthy(endpoint.base_url, timeout_s=3):  # short: Ctrl-C waits for the check in flight
            time.sleep(2)
        progress(f"the server stopped answering; log ends:\n{endpoint.log_tail()}")
        return 1
    except KeyboardInterrupt:
        progress("stopping the server")
        return 0
    finally:
        endpoint.stop()


def main(argv: list[str] | None = None) -> int:
    """CLI entry point; see the module docstring."""
    from bmw_assets.settings import load_settings

    parser = argparse.ArgumentParser(description="Serve a trained variant through an OpenAI-compatible API.")
    parser.add_argument("variant", help="variant name, e.g. original_lora (a config in configs/variants/)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"loopback port (default {DEFAULT_PORT})")
    parser.add_argument("--storage", type=Path, default=None, help="storage root (default: $BMW_STORAGE or ./storage)")
    args = parser.parse_args(argv)
    root = args.storage.expanduser().resolve() if args.storage else load_settings().storage.root
    try:
        return serve_variant(args.variant, root, args.port, progress=lambda line: print(line, flush=True))
    except (FileNotFoundError, RuntimeError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
