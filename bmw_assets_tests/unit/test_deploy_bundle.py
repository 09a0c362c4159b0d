"""GPU host set-up (bmw_assets.deploy): the requirement set never touches the host's torch and pins the
same trl as the project; the bundle's bitsandbytes trim still installs; the manifest refuses a part over
one carry; the entry points import no Dagster."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from bmw_assets.deploy import (
    GPU_REQUIREMENTS,
    ROOT,
    BundleError,
    requirement_pins,
    trim_bitsandbytes,
    write_manifest,
)


def test_gpu_requirements_are_exact_pins_that_leave_the_host_stack_alone():
    pins = dict(pin.split("==") for pin in requirement_pins())
    assert not {"torch", "transformers", "peft", "accelerate", "dagster"} & set(pins)
    project = (ROOT / "pyproject.toml").read_text()
    for name in ("trl", "gguf", "dagster-pipes", "torch-optimi", "sentencex", "bitsandbytes"):
        # One version of each on every host: the project's own pin, where it has one, is the GPU host's.
        pinned = re.search(rf'"{name}==([^"]+)"', project)
        assert pinned is None or pinned[1] == pins[name], name
    assert pins["trl"] == re.search(r'"trl==([^"]+)"', project)[1]


def test_a_loose_requirement_is_refused(tmp_path):
    path = tmp_path / "gpu.txt"
    path.write_text("# comment\ntrl==1.16.0  # pinned\n\ndatasets>=4\n")
    with pytest.raises(BundleError, match=r"gpu.txt:4: 'datasets>=4' is not an exact pin"):
        requirement_pins(path)


def _wheel(path: Path, files: dict[str, bytes]) -> Path:
    """A real wheel with a RECORD of every file, as pip download would bring it."""
    dist = "bitsandbytes-0.50.2.dist-info"
    files = {
        **files,
        f"{dist}/METADATA": b"Metadata-Version: 2.1\nName: bitsandbytes\nVersion: 0.50.2\n",
        f"{dist}/WHEEL": b"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: false\nTag: py3-none-any\n",
    }
    record = [f"{name},sha256={base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b'=').decode()},"
              f"{len(data)}" for name, data in files.items()]  # fmt: skip
    with zipfile.ZipFile(path, "w") as wheel:
        for name, data in files.items():
            wheel.writestr(name, data)
        wheel.writestr(f"{dist}/RECORD", "\n".join(record + [f"{dist}/RECORD,,"]) + "\n")
    return path


def test_bitsandbytes_keeps_only_the_asked_libraries_and_still_installs(tmp_path):
    libraries = {f"bitsandbytes/libbitsandbytes_{flavour}.so": flavour.encode() * 1000
                 for flavour in ("cpu", "cuda118", "cuda128", "cuda130", "rocm72")}  # fmt: skip
    wheel = _wheel(tmp_path / "bitsandbytes-0.50.2-py3-none-any.whl",
                   {"bitsandbytes/__init__.py": b"VERSION = '0.50.2'\n", **libraries})  # fmt: skip
    dropped = trim_bitsandbytes(wheel, ("cuda130", "cpu"))
    assert sorted(dropped) == [f"bitsandbytes/libbitsandbytes_{f}.so" for f in ("cuda118", "cuda128", "rocm72")]
    with zipfile.ZipFile(wheel) as trimmed:
        record = trimmed.read("bitsandbytes-0.50.2.dist-info/RECORD").decode()
        assert trimmed.read("bitsandbytes/libbitsandbytes_cuda130.so") == b"cuda130" * 1000
    assert "cuda118" not in record and "libbitsandbytes_cpu.so" in record
    target = tmp_path / "site"
    done = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-index", "--target", str(target),
                           str(wheel)], check=False, capture_output=True, text=True)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in (target / "bitsandbytes").glob("*.so")) == [
        "libbitsandbytes_cpu.so", "libbitsandbytes_cuda130.so"]  # fmt: skip

    with pytest.raises(BundleError, match=r"has no library for \['cuda132'\]"):
        trim_bitsandbytes(wheel, ("cuda132",))


def test_manifest_records_sizes_and_hashes_and_refuses_a_part_over_one_carry(tmp_path):
    (tmp_path / "wheels").mkdir()
    (tmp_path / "tokenizer").mkdir()
    (tmp_path / "wheels" / "a.whl").write_bytes(b"a" * 3000)
    (tmp_path / "tokenizer" / "tokenizer.json").write_bytes(b"{}")
    manifest = write_manifest(tmp_path, ["wheels", "tokenizer"], limit=4000)
    assert manifest["parts"]["wheels"]["files"] == [
        {"path": "wheels/a.whl", "bytes": 3000, "sha256": hashlib.sha256(b"a" * 3000).hexdigest()}]  # fmt: skip
    assert manifest["total_bytes"] == 3002 and json.loads((tmp_path / "manifest.json").read_text()) == manifest
    (tmp_path / "wheels" / "b.whl").write_bytes(b"b" * 2000)
    with pytest.raises(BundleError, match=r"part wheels/ holds 0.0 MiB, over the 0 MiB of one carry; largest: "
                                          r"wheels/a.whl \(0.0 MiB\), wheels/b.whl"):  # fmt: skip
        write_manifest(tmp_path, ["wheels", "tokenizer"], limit=4000)


def test_entry_points_import_no_dagster():
    code = (
        "import sys, bmw_assets.training.train, bmw_assets.evaluation.run; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('dagster', 'duckdb', 'polars', 'aiohttp')))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], check=False, capture_output=True, text=True, cwd=ROOT, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
    assert GPU_REQUIREMENTS.is_file()
