"""The thin ingest: authenticate, check size and provider, enqueue the verbatim body, answer."""
