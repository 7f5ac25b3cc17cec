"""JSON API blueprints under ``/v1`` (bearer JWT), plus ``/healthz`` and ``/metrics``."""
