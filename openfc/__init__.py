"""openfc: a self-hosted Function Compute platform."""

__version__ = "0.1.0"
