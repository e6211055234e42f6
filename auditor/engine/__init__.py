"""Vantage points: sweeps and probes run by Celery workers inside the segments they reach.

`[engine] broker = "redis://..."|"amqp://..."` turns it on; without it the audit runs on one
machine exactly as before.

routing.py   which [[vantage]] reaches a host or a sweep target (pure; most specific wins)
"""
