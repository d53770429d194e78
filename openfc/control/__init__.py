"""The control plane: validated CRUD of FC resources and invocation target resolution."""

from openfc.control.registry import LATEST, Page, Registry, render, split_qualifier

__all__ = ["LATEST", "Page", "Registry", "render", "split_qualifier"]
