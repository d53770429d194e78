"""``openfc deploy``: the example app, idempotency, one-file changes, --dry-run, template errors."""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path

import fc2
import pytest

from openfc.cli.package import Package, zip_dir
from tests.cli.conftest import App, Run


def rows(output: str, action: str, *, details: bool = False) -> list[tuple[str, ...]]:
    """(kind, name[, details]) of the plan rows with ``action``."""
    found = []
    for line in output.splitlines():
        cells = [c.strip() for c in re.split(r"[│┃]", line)[1:-1]]
        if len(cells) == 4 and cells[0] == action:
            found.append(tuple(cells[1:] if details else cells[1:3]))
    return found


def test_zip_is_deterministic(tmp_path: Path) -> None:
    (tmp_path / "pkg").mkdir()
    (tmp_path / "b.py").write_text("b = 1\n")
    (tmp_path / "pkg" / "a.py").write_text("a = 1\n")
    (tmp_path / "__pycache__").mkdir()
    (tmp_path / "__pycache__" / "b.cpython-311.pyc").write_bytes(b"junk")
    first = zip_dir(tmp_path)
    (tmp_path / "pkg" / "a.py").touch()  # a new mtime changes nothing
    (tmp_path / "__pycache__" / "b.cpython-311.pyc").write_bytes(b"other junk")
    assert zip_dir(tmp_path) == first
    (tmp_path / "pkg" / "a.py").write_text("a = 2\n")
    assert zip_dir(tmp_path) != first


def test_deploy_twice_then_one_changed_file(cli: Run, client: fc2.Client, shop: App) -> None:
    first = cli("deploy", "-f", shop.template)
    assert set(rows(first.output, "create")) >= {
        ("service", shop.service), ("function", f"{shop.service}/orders"), ("function", f"{shop.service}/catalog"),
        ("alias", f"{shop.service}/prod"), ("async config", f"{shop.service}/orders@LATEST"),
        ("on-demand", f"{shop.service}/orders@LATEST"), ("state machine", shop.flow),
        ("trigger", f"{shop.service}/catalog/refresh"),
    }  # fmt: skip
    assert rows(first.output, "publish") == [("layer", shop.layer), ("version", shop.service)]
    assert "Deployed" in first.output
    orders = client.get_function(shop.service, "orders").data
    assert orders["memorySize"] == 256 and orders["environmentVariables"] == {"STAGE": "prod", "CURRENCY": "CNY"}
    assert orders["codeChecksum"] == Package(shop.root / "functions" / "orders").checksum
    assert [layer.rsplit(":", 1)[-1] for layer in orders["layers"]] == [f"layers/{shop.layer}/versions/1"]
    trigger = client.get_trigger(shop.service, "catalog", "refresh").data
    assert trigger["triggerType"] == "timer" and trigger["triggerConfig"]["cronExpression"] == "@every 5m"
    assert client.get_alias(shop.service, "prod").data["versionId"] == "1"
    assert client.get_function_async_invoke_config(shop.service, "LATEST", "orders").data["maxAsyncRetryAttempts"] == 2
    result = client.invoke_function(shop.service, "orders", qualifier="prod",
                                    payload=json.dumps({"items": [{"price": 2, "quantity": 3}]}))  # fmt: skip
    assert json.loads(result.data)["total"] == 6.0

    second = cli("deploy", "-f", shop.template)
    assert "No changes" in second.output
    assert not rows(second.output, "update") and not rows(second.output, "create")
    assert [v["versionId"] for v in client.list_versions(shop.service).data["versions"]] == ["1"]

    catalog = client.get_function(shop.service, "catalog").data
    source = shop.root / "functions" / "catalog" / "index.py"
    source.write_text(source.read_text() + "\n# a change\n")
    third = cli("deploy", "-f", shop.template)
    assert rows(third.output, "update") == [("function", f"{shop.service}/catalog"), ("alias", f"{shop.service}/prod")]
    assert rows(third.output, "publish") == [("version", shop.service)]
    assert client.get_function(shop.service, "orders").data["lastModifiedTime"] == orders["lastModifiedTime"]
    changed = client.get_function(shop.service, "catalog").data
    assert changed["codeChecksum"] != catalog["codeChecksum"]
    assert changed["codeChecksum"] == Package(source.parent).checksum
    assert client.get_alias(shop.service, "prod").data["versionId"] == "2"
    assert "No changes" in cli("deploy", "-f", shop.template).output


def test_config_change_updates_only_that_field(cli: Run, client: fc2.Client, shop: App) -> None:
    cli("deploy", "-f", shop.template)
    template = Path(shop.template)
    template.write_text(template.read_text().replace("memorySize: 128", "memorySize: 512"))
    result = cli("deploy", "-f", shop.template)
    assert ("function", f"{shop.service}/catalog", "memorySize") in rows(result.output, "update", details=True)
    assert client.get_function(shop.service, "catalog").data["memorySize"] == 512


def test_dry_run_changes_nothing(cli: Run, client: fc2.Client, shop: App) -> None:
    plan = cli("deploy", "-f", shop.template, "--dry-run")
    assert ("service", shop.service) in rows(plan.output, "create")
    assert "Dry run: nothing was changed." in plan.output
    with pytest.raises(fc2.fc_exceptions.FcError):
        client.get_service(shop.service)

    cli("deploy", "-f", shop.template)
    before = client.get_function(shop.service, "orders").data
    source = shop.root / "functions" / "orders" / "index.py"
    source.write_text(source.read_text() + "\n# dry\n")
    plan = cli("deploy", "-f", shop.template, "--dry-run")
    assert ("function", f"{shop.service}/orders") in rows(plan.output, "update")
    after = client.get_function(shop.service, "orders").data
    assert after["codeChecksum"] == before["codeChecksum"]
    assert after["lastModifiedTime"] == before["lastModifiedTime"]
    assert len(client.list_versions(shop.service).data["versions"]) == 1


def test_resources_missing_from_the_template_are_left_alone(cli: Run, client: fc2.Client, shop: App, code_dir) -> None:
    cli("deploy", "-f", shop.template)
    client.create_function(shop.service, "extra", "python3", "index.handler",
                           codeDir=code_dir(index="def handler(e, c):\n    return 'x'\n"))  # fmt: skip
    result = cli("deploy", "-f", shop.template)
    assert rows(result.output, "left alone") == [("function", f"{shop.service}/extra")]
    assert "deploy never deletes" in result.output
    assert client.get_function(shop.service, "extra").data["functionName"] == "extra"


@pytest.mark.parametrize(
    ("edit", "where"),
    [
        (("memorySize: 256", "memorySize: big"), "services.{svc}.functions.orders.memorySize: must be an integer"),
        (("codeDir: ./functions/catalog", "codeDir: ./nowhere"), "services.{svc}.functions.catalog.codeDir:"),
        (("timeout: 10", "timeout: 10\n        colour: blue"), "services.{svc}.functions.catalog.colour: unknown key"),
        (("prod: {version: latest}", "prod: {version: newest}"), "services.{svc}.aliases.prod.version:"),
        (("runtime: python3\n        handler: index.handler\n        codeDir: ./functions/orders",
          "handler: index.handler\n        codeDir: ./functions/orders"),
         "services.{svc}.functions.orders.runtime: is required"),
    ],
)  # fmt: skip
def test_template_errors_name_the_yaml_path(cli: Run, shop: App, edit: tuple[str, str], where: str) -> None:
    template = Path(shop.template)
    assert edit[0] in template.read_text()
    template.write_text(template.read_text().replace(edit[0], edit[1], 1))
    result = cli("deploy", "-f", shop.template, ok=False)
    assert result.exit_code != 0
    assert where.format(svc=shop.service) in result.output
    assert "Traceback" not in result.output


def test_unreadable_template(cli: Run, tmp_path: Path) -> None:
    missing = cli("deploy", "-f", str(tmp_path / "nope.yaml"), ok=False)
    assert missing.exit_code != 0 and "cannot read" in missing.output
    (tmp_path / "bad.yaml").write_text("services: [\n")
    bad = cli("deploy", "-f", str(tmp_path / "bad.yaml"), ok=False)
    assert bad.exit_code != 0 and "not valid YAML" in bad.output


def test_layer_trigger_and_flow_changes(cli: Run, client: fc2.Client, shop: App) -> None:
    cli("deploy", "-f", shop.template)
    helper = shop.root / "layers" / "common" / "python" / "shop_pricing.py"
    helper.write_text(helper.read_text() + "\nCURRENCY = 'CNY'\n")
    template = Path(shop.template)
    template.write_text(template.read_text().replace("@every 5m", "@every 10m"))
    flow = shop.root / "flows" / "order.yaml"
    flow.write_text(flow.read_text().replace("Look the product up", "Find the product"))
    result = cli("deploy", "-f", shop.template)
    assert rows(result.output, "publish", details=True) == [
        ("layer", shop.layer, "new version: code"), ("version", shop.service, "functions changed")
    ]  # fmt: skip
    assert set(rows(result.output, "update")) == {
        ("function", f"{shop.service}/orders"), ("alias", f"{shop.service}/prod"),
        ("trigger", f"{shop.service}/catalog/refresh"), ("state machine", shop.flow),
    }  # fmt: skip
    orders = client.get_function(shop.service, "orders").data
    assert orders["layers"][0].endswith(f"layers/{shop.layer}/versions/2")
    assert (
        client.get_trigger(shop.service, "catalog", "refresh").data["triggerConfig"]["cronExpression"] == "@every 10m"
    )
    assert "No changes" in cli("deploy", "-f", shop.template).output


def test_provision_config(cli: Run, client: fc2.Client, tmp_path: Path) -> None:
    name = f"warm_{uuid.uuid4().hex[:8]}"
    (tmp_path / "code").mkdir()
    (tmp_path / "code" / "index.py").write_text("def handler(event, context):\n    return 'warm'\n")
    (tmp_path / "openfc.yaml").write_text(f"""
services:
  {name}:
    functions:
      hot:
        runtime: python3
        handler: index.handler
        codeDir: ./code
        provision: {{qualifier: live, target: 1}}
    aliases:
      live: {{version: latest}}
""")
    first = cli("deploy", "-f", str(tmp_path / "openfc.yaml"))
    assert ("provision", f"{name}/hot@live") in rows(first.output, "create")
    config = client.get_provision_config(name, "live", "hot").data
    assert config["target"] == 1
    assert "No changes" in cli("deploy", "-f", str(tmp_path / "openfc.yaml")).output
    (tmp_path / "openfc.yaml").write_text((tmp_path / "openfc.yaml").read_text().replace("target: 1", "target: 0"))
    assert ("provision", f"{name}/hot@live") in rows(
        cli("deploy", "-f", str(tmp_path / "openfc.yaml")).output, "update"
    )
    assert client.get_provision_config(name, "live", "hot").data["target"] == 0
