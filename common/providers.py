"""The providers smspipe accepts, as the ingest sees them: route name and settings prefix.

The ingest never imports the workers, so it learns the routes here; each name has a parsing
adapter in ``workers/providers/<name with _>.py`` (a test checks that the two agree).
"""

PROVIDERS = ("webex-interact", "infobip", "webex-connect")


def settings_prefix(provider: str) -> str:
    """``webex-interact`` -> ``SMSPIPE_WEBEX_INTERACT``."""
    return "SMSPIPE_" + provider.upper().replace("-", "_")


def module_name(provider: str) -> str:
    """``webex-interact`` -> ``webex_interact`` (the adapter module's name)."""
    return provider.replace("-", "_")
