"""docs/providers.md is generated from the adapters' tables; it must be up to date."""

from __future__ import annotations

from pathlib import Path

from workers.providers import infobip, webex_connect
from workers.providers.docs import render

DOC = Path(__file__).resolve().parents[2] / "docs" / "providers.md"


def test_providers_doc_is_up_to_date():
    assert DOC.read_text(encoding="utf-8") == render(), (
        "docs/providers.md is stale: run `python -m workers.providers.docs > docs/providers.md`"
    )


def test_doc_lists_every_table_row():
    text = render()
    assert all(f"`{status.name}`" in text for status in infobip.STATUS_TABLE.values())
    assert all(f"| {code} |" in text for code in webex_connect.CODE_TABLE)
