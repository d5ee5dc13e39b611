"""The one place that wires the real services together from Settings."""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from studio import lifecycle
from studio.backends.registry import Backends
from studio.config import Settings
from studio.jobs import VisitorLimits
from studio.store import BookStore, Quotas

log = logging.getLogger(__name__)


@dataclass
class Services:
    settings: Settings
    store: BookStore
    backends: Backends
    limits: VisitorLimits = field(default_factory=VisitorLimits)  # per visitor on a shared server
    purger: Any = None  # the housekeeping thread started by the app (studio.visitors.PurgeTimer)
    warmup: Any = None  # models downloaded at start (studio.model_warmup.ModelWarmup), started by the app
    session_sweeper: Any = None  # closed pages' web sessions dropped (tabs.common.sessions), started by the app

    def close(self) -> None:
        for thread in (self.purger, self.session_sweeper):
            if thread is not None:
                thread.stop()
        self.store.close()


def quotas_from(settings: Settings) -> Quotas:
    return Quotas(books=settings.max_books_per_owner, pages=settings.max_pages_per_owner,
                  media_bytes=settings.max_media_mb_per_owner * 1024**2)


def build_services(settings: Settings | None = None) -> Services:
    settings = settings or Settings.from_env()
    store = BookStore(settings.data_dir, quotas=quotas_from(settings))
    lifecycle.use_data_dir(settings.data_dir)  # caches live inside the data dir
    if store.recovered_from_backup:
        log.warning("The library was restored from its last good backup.")
    return Services(settings=settings, store=store, backends=Backends(settings),
                    limits=VisitorLimits.from_settings(settings))
