"""The one place that wires the real services together from Settings."""
from __future__ import annotations

import logging
from dataclasses import dataclass

from studio.backends.registry import Backends
from studio.config import Settings
from studio.media import MediaStore
from studio.store import BookStore

log = logging.getLogger(__name__)


@dataclass
class Services:
    settings: Settings
    store: BookStore
    media: MediaStore
    backends: Backends

    def close(self) -> None:
        self.store.close()


def build_services(settings: Settings | None = None) -> Services:
    settings = settings or Settings.from_env()
    media = MediaStore(settings.media_dir)
    store = BookStore(settings.data_dir, media=media)
    if store.recovered_from_backup:
        log.warning("The library was restored from its last good backup.")
    return Services(settings=settings, store=store, media=media, backends=Backends(settings))
