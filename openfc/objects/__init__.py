"""The built-in S3-compatible object storage, with event notifications for OSS triggers."""

from openfc.objects.store import Listing, ObjectEvent, ObjectInfo, ObjectStore

__all__ = ["Listing", "ObjectEvent", "ObjectInfo", "ObjectStore"]
