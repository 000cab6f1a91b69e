"""Provider adapters, one module per provider, found by name (``webex-interact`` ->
``workers.providers.webex_interact``). Every adapter exposes ``NAME`` and
``parse(envelope) -> list[Record | RejectedRecord]``, raising ``MalformedPayload`` or
``UnknownShape`` for a delivery it cannot read at all.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from common.providers import PROVIDERS, module_name


def adapter_for(provider: str) -> ModuleType:
    if provider not in PROVIDERS:
        raise KeyError(f"unknown provider {provider!r}")
    return importlib.import_module(f"{__name__}.{module_name(provider)}")
