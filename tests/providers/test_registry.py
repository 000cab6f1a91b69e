"""The registry: the ingest's list of route names (common.providers.PROVIDERS, which it reads
without importing the workers) and the adapter modules in workers/providers/ must agree, and
every adapter exposes the same names."""

from __future__ import annotations

from pathlib import Path

import pytest

import workers.providers
from common.providers import PROVIDERS, module_name
from workers.providers import adapter_for

# Modules in workers/providers/ that are helpers, not adapters.
NOT_ADAPTERS = {"__init__", "base", "docs"}
ADAPTER_NAMES = ("NAME", "SHAPES", "parse", "mapping_tables")


def adapter_modules() -> set[str]:
    folder = Path(workers.providers.__file__).parent
    return {path.stem for path in folder.glob("*.py")} - NOT_ADAPTERS


def test_every_adapter_module_is_a_listed_route_and_every_route_has_an_adapter():
    assert adapter_modules() == {module_name(provider) for provider in PROVIDERS}


@pytest.mark.parametrize("provider", PROVIDERS)
def test_adapter_exposes_the_common_names(provider: str):
    adapter = adapter_for(provider)
    assert [name for name in ADAPTER_NAMES if not hasattr(adapter, name)] == []
    assert adapter.NAME == provider


def test_unknown_provider_has_no_adapter():
    with pytest.raises(KeyError):
        adapter_for("twilio")
