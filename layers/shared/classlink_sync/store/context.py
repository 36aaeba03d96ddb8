"""The store's handle: settings, bound pynamodb models and the low-level calls (the seam)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from classlink_sync.settings import AppSettings, get_settings
from classlink_sync.store.dynamo import METER, DynamoCalls, Interceptor, RetryPolicy, attach_models
from classlink_sync.store.models import Models, bind


@dataclass
class Store:
    """Everything a store function needs; build one per process (``get_store``) or per test."""

    settings: AppSettings
    models: Models
    calls: DynamoCalls

    @classmethod
    def create(
        cls,
        settings: AppSettings | None = None,
        *,
        interceptor: Interceptor | None = None,
        retry: RetryPolicy | None = None,
    ) -> Store:
        settings = settings or get_settings()
        models = bind(settings)
        attach_models(models, METER)
        return cls(settings, models, DynamoCalls(settings, interceptor=interceptor, retry=retry))


@cache
def get_store() -> Store:
    """The process's store, built once per cold start from ``get_settings()``."""
    return Store.create()


def resolve(store: Store | None) -> Store:
    return store if store is not None else get_store()
