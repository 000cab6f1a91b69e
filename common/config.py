"""The TOML file named by ``SMSPIPE_CONFIG``: keyword rules and HTTP subscribers (CONTRACT §7).

Read and validated once at start-up; a bad entry raises ``ConfigError`` naming the file, the
entry and the setting, e.g. ``smspipe.toml: rules[2] (newsletter).match: expected one of ...``.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from common.errors import ConfigError
from common.events import EVENT_TYPES

MATCH_MODES = ("first_word", "exact", "contains", "regex")
ACTIONS = ("opt_in", "opt_out", "help", "tag")


@dataclass(frozen=True)
class RuleConfig:
    name: str
    keywords: tuple[str, ...]
    match: str = "first_word"
    action: str = "tag"
    lists: tuple[str, ...] = ()


@dataclass(frozen=True)
class SubscriberConfig:
    name: str
    url: str
    secret: str
    types: tuple[str, ...] = ()  # empty: every type
    timeout_seconds: float = 10.0
    retry_schedule: tuple[float, ...] = (5, 30, 120, 600, 1800, 3600)

    def wants(self, event_type: str) -> bool:
        return not self.types or event_type in self.types


@dataclass(frozen=True)
class Config:
    rules: tuple[RuleConfig, ...] = ()
    subscribers: tuple[SubscriberConfig, ...] = ()
    builtin_keywords: bool = True


def load_config(path: str | None) -> Config:
    if path is None:
        return Config()
    try:
        with open(path, "rb") as handle:
            document = tomllib.load(handle)
    except OSError as error:
        raise ConfigError(f"SMSPIPE_CONFIG: cannot read {path}: {error.strerror}") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"SMSPIPE_CONFIG: {path} is not valid TOML: {error}") from None
    return parse_config(document, Path(path).name)


def parse_config(document: dict[str, Any], origin: str = "SMSPIPE_CONFIG") -> Config:
    builtin = document.get("builtin_keywords", True)
    if not isinstance(builtin, bool):
        raise ConfigError(f"{origin}: builtin_keywords: expected true or false")
    rules = tuple(_rule(origin, index, entry) for index, entry in enumerate(_tables(document, "rules", origin)))
    subscribers = tuple(
        _subscriber(origin, index, entry) for index, entry in enumerate(_tables(document, "subscribers", origin))
    )
    for kind, entries in (("rules", rules), ("subscribers", subscribers)):
        names = [entry.name for entry in entries]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ConfigError(f"{origin}: {kind}: duplicate name {duplicates[0]!r}")
    return Config(rules=rules, subscribers=subscribers, builtin_keywords=builtin)


def _tables(document: dict[str, Any], key: str, origin: str) -> list[dict[str, Any]]:
    entries = document.get(key, [])
    if not isinstance(entries, list) or not all(isinstance(entry, dict) for entry in entries):
        raise ConfigError(f"{origin}: {key}: expected [[{key}]] tables")
    return entries


class _Entry:
    def __init__(self, origin: str, kind: str, index: int, entry: dict[str, Any]):
        self.entry = entry
        name = entry.get("name")
        self.where = f"{origin}: {kind}[{index}]" + (f" ({name})" if isinstance(name, str) else "")

    def fail(self, key: str, message: str) -> ConfigError:
        return ConfigError(f"{self.where}.{key}: {message}")

    def text(self, key: str, default: str | None = None) -> str:
        value = self.entry.get(key, default)
        if not isinstance(value, str) or not value.strip():
            raise self.fail(key, "expected a non-empty string")
        return value

    def choice(self, key: str, default: str, choices: tuple[str, ...]) -> str:
        value = self.text(key, default)
        if value not in choices:
            raise self.fail(key, f"expected one of {', '.join(choices)}, got {value!r}")
        return value

    def strings(self, key: str, required: bool = False) -> tuple[str, ...]:
        value = self.entry.get(key, [])
        if not isinstance(value, list) or not all(isinstance(item, str) and item.strip() for item in value):
            raise self.fail(key, "expected a list of non-empty strings")
        if required and not value:
            raise self.fail(key, "must not be empty")
        return tuple(value)

    def number(self, key: str, default: float) -> float:
        value = self.entry.get(key, default)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
            raise self.fail(key, "expected a positive number")
        return float(value)


def _rule(origin: str, index: int, raw: dict[str, Any]) -> RuleConfig:
    entry = _Entry(origin, "rules", index, raw)
    rule = RuleConfig(
        name=entry.text("name"),
        keywords=entry.strings("keywords", required=True),
        match=entry.choice("match", "first_word", MATCH_MODES),
        action=entry.choice("action", "tag", ACTIONS),
        lists=entry.strings("lists"),
    )
    if rule.match == "regex":
        for keyword in rule.keywords:
            try:
                re.compile(keyword)
            except re.error as error:
                raise entry.fail("keywords", f"invalid regex {keyword!r}: {error}") from None
    return rule


def _subscriber(origin: str, index: int, raw: dict[str, Any]) -> SubscriberConfig:
    entry = _Entry(origin, "subscribers", index, raw)
    url = entry.text("url")
    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise entry.fail("url", f"expected an http(s) URL, got {url!r}")
    types = entry.strings("types")
    unknown = [event_type for event_type in types if event_type not in EVENT_TYPES]
    if unknown:
        raise entry.fail("types", f"unknown event type {unknown[0]!r}")
    schedule = raw.get("retry_schedule", list(SubscriberConfig.retry_schedule))
    if not isinstance(schedule, list) or not all(
        isinstance(step, (int, float)) and not isinstance(step, bool) and step >= 0 for step in schedule
    ):
        raise entry.fail("retry_schedule", "expected a list of seconds")
    secret = entry.text("secret")
    if not secret.startswith("whsec_"):
        raise entry.fail("secret", "expected a Standard Webhooks secret (whsec_...)")
    return SubscriberConfig(
        name=entry.text("name"),
        url=url,
        secret=secret,
        types=types,
        timeout_seconds=entry.number("timeout_seconds", SubscriberConfig.timeout_seconds),
        retry_schedule=tuple(float(step) for step in schedule),
    )
