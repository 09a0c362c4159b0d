"""requirements.lock, which `make setup` installs, pins every dependency that pyproject.toml declares
(with the dev, k8s and local extras) at a version its specifier admits; torch stays out of it and is
installed first by the Makefile, at pyproject's pin."""

import re
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).parents[2]
LOCKED_EXTRAS = ("dev", "k8s", "local")


def locked_versions() -> dict[str, Version]:
    pins = re.findall(r"^([A-Za-z0-9._-]+)==(\S+)$", (ROOT / "requirements.lock").read_text(), re.MULTILINE)
    return {canonicalize_name(name): Version(version) for name, version in pins}


def declared() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = [r for extra in LOCKED_EXTRAS for r in project["optional-dependencies"][extra]]
    return [Requirement(r) for r in project["dependencies"] + extras]


def test_the_lock_pins_every_declared_dependency_at_a_version_it_admits():
    locked = locked_versions()
    assert len(locked) > 100  # the whole closure, not just the direct dependencies
    for requirement in declared():
        name = canonicalize_name(requirement.name)
        if name == "torch":
            continue
        assert name in locked, f"{requirement.name} is not in requirements.lock: run `make lock`"
        assert requirement.specifier.contains(locked[name], prereleases=True), (
            f"requirements.lock pins {name}=={locked[name]}, outside pyproject's {requirement}: run `make lock`"
        )


def test_torch_is_left_to_the_makefile_at_pyprojects_pin():
    assert "torch" not in locked_versions()  # a resolved torch would pin a build (CUDA or +cpu) for everyone
    (torch,) = [r for r in declared() if r.name == "torch"]
    assert f"pip install -q torch{torch.specifier}" in (ROOT / "Makefile").read_text()
