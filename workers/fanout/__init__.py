"""Fan-out of published events to HTTP subscribers and entry-point handlers (CONTRACT §6).

``destinations.py`` says who gets what, ``http.py`` signs and sends one request, ``handlers.py``
finds and runs the in-process handlers, ``deliver.py`` runs one attempt of one delivery and
decides what happens next, ``tasks.py`` holds the Celery tasks. docs/consuming-events.md
explains the isolation design.
"""
