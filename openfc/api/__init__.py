"""The HTTP surfaces (FC API now; Step Functions, S3 and the gateway beside it)."""

from openfc.api.app import build_app, build_platform

__all__ = ["build_app", "build_platform"]
