"""The start-up check of the Redis the queue lives in: a queue must never be evicted, and an
acknowledged webhook must survive a Redis restart. Misconfiguration is logged as a clear
warning (not a refusal: a managed Redis may hide CONFIG, and dev setups may choose to run
without persistence)."""

from __future__ import annotations

import logging

import redis

logger = logging.getLogger("smspipe.redis_check")


def redis_setting_warnings(client: redis.Redis) -> list[str]:
    """One sentence per problem found in the server's configuration; empty when it is sound."""
    try:
        config = client.config_get("*")
    except redis.ResponseError as error:  # CONFIG renamed or disabled (managed services)
        return [f"could not read the Redis configuration ({error}); make sure maxmemory-policy is "
                "noeviction and AOF persistence (appendonly yes) is on"]
    config = {_text(key): _text(value) for key, value in config.items()}
    warnings = []
    policy = config.get("maxmemory-policy", "")
    if policy != "noeviction":
        warnings.append(
            f"Redis maxmemory-policy is {policy!r}: under memory pressure Redis may evict queued "
            "webhooks; set maxmemory-policy noeviction"
        )
    if config.get("appendonly") != "yes":
        if config.get("save"):
            warnings.append(
                "Redis AOF is off (appendonly no): only RDB snapshots persist, so a restart loses "
                "webhooks acknowledged since the last snapshot; set appendonly yes"
            )
        else:
            warnings.append(
                "Redis has no persistence (appendonly no, no save points): a restart loses every "
                "queued webhook; set appendonly yes"
            )
    elif config.get("appendfsync") == "no":
        warnings.append(
            "Redis appendfsync is 'no': a crash of the Redis host may lose the last ~30 s of "
            "acknowledged webhooks; use everysec (<= 1 s at risk) or always"
        )
    return warnings


def check_redis_settings(url: str) -> list[str]:
    """Log each warning; never raises (an unreachable Redis is /readyz's business)."""
    client = redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=2)
    try:
        warnings = redis_setting_warnings(client)
    except redis.RedisError as error:
        logger.warning("could not check the Redis settings at start-up: %s", error)
        return []
    finally:
        client.close()
    for warning in warnings:
        logger.warning("%s", warning)
    return warnings


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
