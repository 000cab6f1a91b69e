"""The fan-out's settings: read from SMSPIPE_* variables, bad values named in one line."""

from __future__ import annotations

import pytest

from common.errors import ConfigError
from common.settings import Settings

# (label, environment, (delivery_queue_name, delivery_lanes, stream_dedupe_ttl_seconds, handlers, schedule))
CASES = [
    ("defaults", {}, ("smspipe.deliveries", 4, 3600, (), (5.0, 30.0, 120.0, 600.0, 1800.0))),
    ("all set", {
        "SMSPIPE_DELIVERY_QUEUE": "fanout",
        "SMSPIPE_DELIVERY_LANES": "2",
        "SMSPIPE_STREAM_DEDUPE_TTL_SECONDS": "60",
        "SMSPIPE_HANDLERS": "log, audit",
        "SMSPIPE_HANDLER_RETRY_SCHEDULE": "1, 2.5,10",
    }, ("fanout", 2, 60, ("log", "audit"), (1.0, 2.5, 10.0))),
    ("every handler", {"SMSPIPE_HANDLERS": "*"}, ("smspipe.deliveries", 4, 3600, ("*",),
                                                 (5.0, 30.0, 120.0, 600.0, 1800.0))),
]


@pytest.mark.parametrize("env, expected", [case[1:] for case in CASES], ids=[case[0] for case in CASES])
def test_fanout_settings(env, expected):
    settings = Settings.from_env(env)
    assert (settings.delivery_queue_name, settings.delivery_lanes, settings.stream_dedupe_ttl_seconds,
            settings.handlers, settings.handler_retry_schedule) == expected


@pytest.mark.parametrize("env, message", [
    ({"SMSPIPE_DELIVERY_LANES": "0"}, "SMSPIPE_DELIVERY_LANES: must be at least 1, got '0'"),
    ({"SMSPIPE_HANDLER_RETRY_SCHEDULE": "5,soon"},
     "SMSPIPE_HANDLER_RETRY_SCHEDULE: expected comma-separated numbers, got '5,soon'"),
    ({"SMSPIPE_HANDLER_RETRY_SCHEDULE": "5,-1"},
     "SMSPIPE_HANDLER_RETRY_SCHEDULE: every number must be at least 0.0, got '5,-1'"),
])
def test_bad_fanout_settings_name_the_variable(env, message):
    with pytest.raises(ConfigError) as error:
        Settings.from_env(env)
    assert str(error.value) == message
