"""The web console: a single-page app under ``/console`` and the small JSON backend it calls."""
