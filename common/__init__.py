"""Shared by the ingest and the workers: settings, the raw envelope, task names, models, CLI."""
