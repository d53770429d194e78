"""Drive the ``openfc`` CLI in-process (Click's CliRunner) against the real test server."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from openfc.cli import main
from tests.conftest import ACCESS_KEY_ID, ACCESS_KEY_SECRET, Server

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

Run = Callable[..., Result]


def run_cli(env: dict[str, str | None], *args: str, ok: bool = True, input: str | None = None) -> Result:
    result = CliRunner().invoke(main, list(args), env=env, input=input, catch_exceptions=False)
    if ok:
        assert result.exit_code == 0, f"openfc {' '.join(args)} exited {result.exit_code}:\n{result.output}"
    return result


@pytest.fixture
def cli_env(server: Server, tmp_path: Path) -> dict[str, str | None]:
    """Connection through OPENFC_* variables, and a config file of this test only."""
    return {
        "OPENFC_ENDPOINT": server.endpoint,
        "OPENFC_ACCESS_KEY_ID": ACCESS_KEY_ID,
        "OPENFC_ACCESS_KEY_SECRET": ACCESS_KEY_SECRET,
        "OPENFC_CONFIG": str(tmp_path / "openfc-config.yaml"),
        "OPENFC_PROFILE": None,
        "OPENFC_REGION": None,
    }


@pytest.fixture
def cli(cli_env: dict[str, str | None]) -> Run:
    """``cli("invoke", "svc/f", ok=False)`` → the Click result; asserts exit 0 unless ``ok=False``."""

    def run(*args: str, ok: bool = True, input: str | None = None) -> Result:
        return run_cli(cli_env, *args, ok=ok, input=input)

    return run


@dataclass
class App:
    """A copy of examples/shop with unique service, layer and state machine names."""

    root: Path
    service: str
    flow: str
    layer: str

    @property
    def template(self) -> str:
        return str(self.root / "openfc.yaml")


@pytest.fixture
def shop(tmp_path: Path) -> App:
    suffix = uuid.uuid4().hex[:8]
    app = App(tmp_path / "shop", f"shop_{suffix}", f"order-flow-{suffix}", f"common_{suffix}")
    shutil.copytree(EXAMPLES / "shop", app.root, ignore=shutil.ignore_patterns("__pycache__"))
    for path in (app.root / "openfc.yaml", app.root / "flows" / "order.yaml"):
        text = path.read_text().replace("order-flow", app.flow).replace("shop", app.service)
        text = text.replace("[common]", f"[{app.layer}]").replace("common: {", f"{app.layer}: {{")
        path.write_text(text)
    return app
