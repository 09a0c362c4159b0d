"""The code location: assets, checks, sensors and resources for the active profile.

`BMW_PROFILE` swaps resources (replica vs real site, packaged vs Hub model,
local vs remote endpoint); the asset graph and code paths are the same.
"""

from __future__ import annotations

import dagster as dg

from bmw_assets.defs import ingestion, sensors
from bmw_assets.defs.io_manager import ManifestIOManager
from bmw_assets.defs.resources import PressClubResource, StorageResource
from bmw_assets.settings import Settings, load_settings


def build_resources(settings: Settings) -> dict[str, object]:
    layout = settings.storage
    return {
        "storage": StorageResource(root=str(layout.root)),
        "pressclub": PressClubResource(
            profile=settings.profile,
            default_target=60 if settings.profile == "local" else 500,
            replica_state_dir=str(layout.root / "replica"),
        ),
        "io_manager": ManifestIOManager(root=str(layout.manifests_dir)),
    }


def build_definitions(settings: Settings) -> dg.Definitions:
    return dg.Definitions(
        assets=dg.load_assets_from_modules([ingestion]),
        sensors=[sensors.new_press_releases],
        resources=build_resources(settings),
    )


defs = build_definitions(load_settings())
