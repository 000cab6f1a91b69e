"""Typed errors. "Skip" (a duplicate) is not "fail"; permanent failures are not retried."""


class SmspipeError(Exception):
    """Base of every error smspipe raises on purpose."""


class ConfigError(SmspipeError):
    """Bad configuration: the message names the setting, and start-up stops."""


class PermanentError(SmspipeError):
    """Retrying cannot help: the payload goes to the dead-letter store at once."""


class MalformedPayload(PermanentError):
    """The body is not valid JSON (or not UTF-8 JSON at all)."""


class UnknownShape(PermanentError):
    """Valid JSON that matches none of the provider's documented payloads."""


class SchemaViolation(PermanentError):
    """A record of a known shape with a missing or invalid field."""


class RetryableError(SmspipeError):
    """A passing fault (database or broker unavailable): retry with backoff."""


class EnqueueFailed(SmspipeError):
    """Neither the broker nor the spool could take a payload: the ingest answers 503."""
