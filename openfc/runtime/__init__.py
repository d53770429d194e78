"""What runs inside an instance: ``protocol`` (frames between pool and instance) and ``bootstrap``
(the Python runtime, stdlib only). The pool copies both into the data dir; nothing here is imported
by the platform except ``protocol``."""

__all__: list[str] = []
