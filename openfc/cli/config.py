"""Where the CLI connects: profiles in ``~/.openfc/config.yaml``, overridden by env, overridden by flags.

The file (or ``$OPENFC_CONFIG``) holds ``{profiles: {<name>: {endpoint, accessKeyId, accessKeySecret, region}}}``.
Each value is taken from the first of: a flag, an ``OPENFC_*`` variable, the selected profile, the default.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
import yaml

DEFAULT_ENDPOINT = "http://127.0.0.1:9000"
DEFAULT_PROFILE = "default"
DEFAULT_REGION = "local"

#: profile key → environment variable
ENV = {
    "endpoint": "OPENFC_ENDPOINT",
    "accessKeyId": "OPENFC_ACCESS_KEY_ID",
    "accessKeySecret": "OPENFC_ACCESS_KEY_SECRET",
    "region": "OPENFC_REGION",
}


@dataclass(frozen=True, slots=True)
class Profile:
    """The resolved connection: where to send requests and the access key that signs them."""

    name: str
    endpoint: str
    access_key_id: str
    access_key_secret: str
    region: str = DEFAULT_REGION


def config_path(environ: Mapping[str, str]) -> Path:
    if environ.get("OPENFC_CONFIG"):
        return Path(environ["OPENFC_CONFIG"]).expanduser()
    return Path(environ.get("HOME") or Path.home()) / ".openfc" / "config.yaml"


def read_profiles(path: Path) -> dict[str, dict[str, Any]]:
    """The ``profiles`` mapping of a config file; ``{}`` when the file does not exist."""
    if not path.exists():
        return {}
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as error:
        raise click.ClickException(f"{path} is not valid YAML: {error}") from None
    profiles = data.get("profiles") if isinstance(data, dict) else None
    if profiles is None:
        return {}
    if not isinstance(profiles, dict) or not all(isinstance(v, dict) for v in profiles.values()):
        raise click.ClickException(f"{path}: 'profiles' must map profile names to {{endpoint, accessKeyId, ...}}")
    return {str(k): dict(v) for k, v in profiles.items()}


def resolve(
    environ: Mapping[str, str],
    *,
    profile: str | None = None,
    endpoint: str | None = None,
    access_key_id: str | None = None,
    access_key_secret: str | None = None,
) -> Profile:
    """Flags (the keyword arguments) > ``OPENFC_*`` env > the profile in the config file > defaults."""
    path = config_path(environ)
    profiles = read_profiles(path)
    name = profile or environ.get("OPENFC_PROFILE") or DEFAULT_PROFILE
    if name not in profiles and (profile or environ.get("OPENFC_PROFILE")) and name != DEFAULT_PROFILE:
        known = ", ".join(sorted(profiles)) or "none"
        raise click.ClickException(f"profile '{name}' is not in {path} (profiles: {known}); see 'openfc configure'")
    stored = profiles.get(name, {})
    flags = {"endpoint": endpoint, "accessKeyId": access_key_id, "accessKeySecret": access_key_secret}

    def value(key: str, default: str = "") -> str:
        return str(flags.get(key) or environ.get(ENV[key]) or stored.get(key) or default)

    return Profile(
        name=name,
        endpoint=value("endpoint", DEFAULT_ENDPOINT).rstrip("/"),
        access_key_id=value("accessKeyId"),
        access_key_secret=value("accessKeySecret"),
        region=value("region", DEFAULT_REGION),
    )


def write_profile(path: Path, name: str, values: Mapping[str, str]) -> None:
    """Create or replace one profile, keeping the others; the file is readable by its owner only."""
    profiles = read_profiles(path)
    profiles[name] = {k: v for k, v in values.items() if v}
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    text = yaml.safe_dump({"profiles": profiles}, sort_keys=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as file:
        file.write(text)
    os.chmod(path, 0o600)
