"""Profiles: ``openfc configure`` writes them; flags > OPENFC_* env > profile file > defaults."""

from __future__ import annotations

import stat
from pathlib import Path

import click
import pytest
import yaml

from openfc.cli.config import DEFAULT_ENDPOINT, resolve
from tests.cli.conftest import run_cli
from tests.conftest import ACCESS_KEY_ID, ACCESS_KEY_SECRET, Server


def test_configure_writes_a_private_profile_file(tmp_path: Path) -> None:
    path = tmp_path / "dir" / "config.yaml"
    env = {"OPENFC_CONFIG": str(path), "OPENFC_PROFILE": None}
    run_cli(env, "configure", "--endpoint", "http://a:1", "--access-key-id", "ID1", "--access-key-secret", "S1")
    run_cli(env, "configure", "--profile", "staging", "--endpoint", "http://b:2", "--access-key-id", "ID2",
            "--access-key-secret", "S2")  # fmt: skip
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert yaml.safe_load(path.read_text()) == {
        "profiles": {
            "default": {"endpoint": "http://a:1", "accessKeyId": "ID1", "accessKeySecret": "S1"},
            "staging": {"endpoint": "http://b:2", "accessKeyId": "ID2", "accessKeySecret": "S2"},
        }
    }
    # Prompts for what is not given, offering the current values.
    run_cli(env, "configure", "--profile", "staging", input="\nID3\n\n")
    assert yaml.safe_load(path.read_text())["profiles"]["staging"] == {
        "endpoint": "http://b:2", "accessKeyId": "ID3", "accessKeySecret": "S2"
    }  # fmt: skip


def test_precedence_flags_env_profile_defaults(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump({"profiles": {
        "default": {"endpoint": "http://file-default:1", "accessKeyId": "FD", "accessKeySecret": "FDS"},
        "other": {"endpoint": "http://file-other:2", "accessKeyId": "FO", "accessKeySecret": "FOS"},
    }}))  # fmt: skip
    base = {"OPENFC_CONFIG": str(path)}
    assert resolve(base).endpoint == "http://file-default:1"
    assert resolve({**base, "OPENFC_PROFILE": "other"}).access_key_id == "FO"
    assert resolve(base, profile="other").access_key_id == "FO"
    env = {**base, "OPENFC_PROFILE": "other", "OPENFC_ENDPOINT": "http://env:3"}
    profile = resolve(env)
    assert (profile.endpoint, profile.access_key_id, profile.access_key_secret) == ("http://env:3", "FO", "FOS")
    flagged = resolve(env, endpoint="http://flag:4/", access_key_id="FLAG")
    assert (flagged.endpoint, flagged.access_key_id, flagged.access_key_secret) == ("http://flag:4", "FLAG", "FOS")
    assert resolve({"OPENFC_CONFIG": str(tmp_path / "none.yaml")}).endpoint == DEFAULT_ENDPOINT
    with pytest.raises(click.ClickException, match="profile 'nope' is not in"):
        resolve(base, profile="nope")


def test_commands_use_the_profile_and_flags_override_it(server: Server, tmp_path: Path) -> None:
    env = {"OPENFC_CONFIG": str(tmp_path / "c.yaml"), "OPENFC_PROFILE": None, "OPENFC_ENDPOINT": None,
           "OPENFC_ACCESS_KEY_ID": None, "OPENFC_ACCESS_KEY_SECRET": None}  # fmt: skip
    run_cli(env, "configure", "--profile", "local", "--endpoint", server.endpoint, "--access-key-id", ACCESS_KEY_ID,
            "--access-key-secret", ACCESS_KEY_SECRET)  # fmt: skip
    assert run_cli(env, "usage", "--profile", "local").exit_code == 0
    assert run_cli({**env, "OPENFC_PROFILE": "local"}, "usage").exit_code == 0
    wrong = run_cli(env, "usage", "--profile", "local", "--access-key-secret", "wrong", ok=False)
    assert wrong.exit_code == 1 and "SignatureNotMatch" in wrong.output and "Traceback" not in wrong.output
    unreachable = run_cli(env, "usage", "--profile", "local", "--endpoint", "http://127.0.0.1:1", ok=False)
    assert unreachable.exit_code == 1 and "cannot reach http://127.0.0.1:1" in unreachable.output
    nokey = run_cli(env, "usage", ok=False)
    assert nokey.exit_code == 1 and "no access key" in nokey.output


def test_alias_service_comes_from_the_template_in_the_current_directory(tmp_path: Path, monkeypatch) -> None:
    from openfc.cli.alias import split_alias

    assert split_alias("shop/prod", None) == ("shop", "prod")
    assert split_alias("prod", "shop") == ("shop", "prod")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(click.BadParameter, match="which service"):
        split_alias("prod", None)
    (tmp_path / "code").mkdir()
    (tmp_path / "openfc.yaml").write_text(
        "services:\n  shop:\n    functions:\n      f: {runtime: python3, handler: index.handler, codeDir: ./code}\n"
    )
    assert split_alias("prod", None) == ("shop", "prod")
