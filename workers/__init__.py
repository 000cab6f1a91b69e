"""Celery workers: parse, dedupe, apply delivery state and rules, write and publish events."""
