"""Vantage points: sweeps and probes run by Celery workers inside the segments they reach.

`[engine] broker = "redis://..."|"amqp://..."` turns it on; without it the audit runs on one
machine exactly as before (and nothing here, nor Celery, is imported).

routing.py     which [[vantage]] reaches a host or a sweep target (pure; most specific wins)
codec.py       frozen dataclasses <-> JSON for the broker (JSON only, never pickle)
app.py         the Celery app, its settings, and the tasks workers run (sweep, direct
               re-check, probe)
controller.py  the controller's side: tasks per vantage, results as they arrive, the
               not-attempted hosts of a vantage whose workers do not answer
"""
