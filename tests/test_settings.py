"""Settings come from SMSPIPE_* variables with defaults; a bad one names itself."""

from __future__ import annotations

import pytest

from common.errors import ConfigError
from common.settings import Settings


def test_defaults():
    settings = Settings.from_env({})
    assert (settings.max_body_bytes, settings.max_attempts, settings.database_url) == (1048576, 5, "sqlite:///smspipe.db")
    assert not settings.auth_for("infobip").configured


def test_provider_secrets_are_comma_separated_for_rotation():
    settings = Settings.from_env({"SMSPIPE_WEBEX_CONNECT_HMAC_SECRET": "old, new", "SMSPIPE_INFOBIP_TOKEN": "t1"})
    assert settings.auth_for("webex-connect").hmac_secrets == ("old", "new")
    assert settings.auth_for("infobip").tokens == ("t1",)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"SMSPIPE_MAX_BODY_BYTES": "lots"}, "SMSPIPE_MAX_BODY_BYTES: expected an integer, got 'lots'"),
        ({"SMSPIPE_MAX_ATTEMPTS": "0"}, "SMSPIPE_MAX_ATTEMPTS: must be at least 1, got '0'"),
        ({"SMSPIPE_LOG_FORMAT": "xml"}, "SMSPIPE_LOG_FORMAT: expected one of json, console, got 'xml'"),
        ({"SMSPIPE_CONFIG": "/nonexistent.toml"}, "SMSPIPE_CONFIG: no such file: /nonexistent.toml"),
        ({"SMSPIPE_INFOBIP_BASIC_AUTH": "nocolon"}, "SMSPIPE_INFOBIP_BASIC_AUTH: expected user:pass"),
    ],
)
def test_bad_settings_name_the_setting(env, message):
    with pytest.raises(ConfigError) as raised:
        Settings.from_env(env)
    assert str(raised.value).startswith(message)
