"""Resources: each external system behind one interface, with the real
implementation in `production` and the embedded one in `local`."""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from bmw_assets.pressclub import ClientSettings
from bmw_assets.settings import StorageLayout


class StorageResource(dg.ConfigurableResource):
    """The storage root: catalog, PDFs, texts, datasets, models, reports."""

    root: str

    @property
    def layout(self) -> StorageLayout:
        return StorageLayout(Path(self.root))


class PressClubResource(dg.ConfigurableResource):
    """The press room to ingest from.

    `production` talks to the real PressClub at polite settings. `local` talks to
    the replica at `base_url`, or starts the packaged replica on `replica_port`
    when no base URL is given and nothing answers there yet.
    """

    profile: str = "local"
    default_target: int = 60
    base_url: str | None = None
    replica_port: int = 8765
    replica_state_dir: str | None = None

    def client_settings(self) -> ClientSettings:
        if self.profile == "production":
            return ClientSettings.production()
        base_url = self.base_url
        if base_url is None:
            from bmw_assets.replica.server import ensure_replica_running

            base_url = ensure_replica_running(self.replica_port, self.replica_state_dir)
        return ClientSettings.local(base_url)
