"""``openfc alias``: list/create/update/delete aliases, and ``shift``: a canary release with rollback."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import click

from openfc.cli._output import console
from openfc.cli._time import epoch_ms, seconds
from openfc.cli.client import Client, with_client
from openfc.cli.commands import table

#: Record statuses that count as errors of the new version (throttling is not the code's fault).
FAILED = "Failed"
THROTTLED = "Throttled"


def split_alias(target: str, service: str | None) -> tuple[str, str]:
    """``shop/prod``, or ``prod`` with ``--service shop``, or ``prod`` and one service in ./openfc.yaml."""
    if "/" in target:
        left, _, alias = target.partition("/")
        if service and service != left:
            raise click.BadParameter(f"'{target}' names service '{left}' but --service says '{service}'")
        return left, alias
    if service:
        return service, target
    template = Path("openfc.yaml")
    if template.exists():
        from openfc.cli.template import load

        services = list(load(template).services)
        if len(services) == 1:
            return services[0], target
    raise click.BadParameter(f"'{target}': which service? write SERVICE/{target} or pass --service")


def parse_weights(pairs: tuple[str, ...]) -> dict[str, float]:
    weights = {}
    for pair in pairs:
        version, sep, weight = pair.partition("=")
        try:
            weights[version] = float(weight)
        except ValueError:
            sep = ""
        if not sep or not version.isdigit():
            raise click.BadParameter(f"'{pair}' is not VERSION=WEIGHT (e.g. 3=0.1)", param_hint="--weight")
    return weights


def _show(alias: dict[str, Any]) -> str:
    weights = alias.get("additionalVersionWeight") or {}
    extra = "".join(f" + {v} at {w:.0%}" for v, w in weights.items())
    return f"version {alias['versionId']}{extra}"


@click.group()
def alias() -> None:
    """Aliases: names that point at a version (plus weighted extra versions for canaries)."""


service_option = click.option("-s", "--service", default=None, help="The service, if ALIAS has no 'SERVICE/'.")


@alias.command("list")
@click.argument("service")
@with_client
def alias_list(client: Client, service: str) -> None:
    items = list(client.pages(f"/services/{service}/aliases", "aliases"))
    rows = [[a["aliasName"], a["versionId"], ", ".join(f"{v}={w}" for v, w in (a.get("additionalVersionWeight") or {})
             .items()), a.get("description", ""), a.get("lastModifiedTime", "")] for a in items]  # fmt: skip
    console().print(table(f"Aliases of {service}", ["alias", "version", "extra weights", "description", "modified"],
                          rows))  # fmt: skip


@alias.command("create")
@click.argument("target", metavar="[SERVICE/]ALIAS")
@click.option("--version", "version_id", required=True, help="The version the alias points at.")
@click.option("--weight", "weights", multiple=True, help="VERSION=WEIGHT of an extra version (0..1), repeatable.")
@click.option("-d", "--description", default="")
@service_option
@with_client
def alias_create(
    client: Client, target: str, version_id: str, weights: tuple[str, ...], description: str, service: str | None
) -> None:
    service, name = split_alias(target, service)
    body = {"aliasName": name, "versionId": version_id, "description": description,
            "additionalVersionWeight": parse_weights(weights)}  # fmt: skip
    created = client.json("POST", f"/services/{service}/aliases", body=body)
    click.echo(f"{service}/{name} → {_show(created)}")


@alias.command("update")
@click.argument("target", metavar="[SERVICE/]ALIAS")
@click.option("--version", "version_id", default=None, help="The version the alias points at.")
@click.option("--weight", "weights", multiple=True, help="VERSION=WEIGHT of an extra version; '--weight none' clears.")
@click.option("-d", "--description", default=None)
@service_option
@with_client
def alias_update(
    client: Client, target: str, version_id: str | None, weights: tuple[str, ...], description: str | None,
    service: str | None,
) -> None:  # fmt: skip
    service, name = split_alias(target, service)
    body: dict[str, Any] = {}
    if version_id is not None:
        body["versionId"] = version_id
    if weights:
        body["additionalVersionWeight"] = {} if weights == ("none",) else parse_weights(weights)
    if description is not None:
        body["description"] = description
    if not body:
        raise click.UsageError("nothing to change: give --version, --weight or --description")
    updated = client.json("PUT", f"/services/{service}/aliases/{name}", body=body)
    click.echo(f"{service}/{name} → {_show(updated)}")


@alias.command("delete")
@click.argument("target", metavar="[SERVICE/]ALIAS")
@service_option
@with_client
def alias_delete(client: Client, target: str, service: str | None) -> None:
    service, name = split_alias(target, service)
    client.request("DELETE", f"/services/{service}/aliases/{name}")
    click.echo(f"Deleted alias {service}/{name}")


def parse_steps(text: str) -> list[int]:
    try:
        steps = [int(s.strip().rstrip("%")) for s in text.split(",") if s.strip()]
    except ValueError:
        steps = []
    if not steps or any(not 0 < s <= 100 for s in steps) or steps != sorted(steps):
        raise click.BadParameter(
            f"'{text}': give increasing percentages from 1 to 100, e.g. 10,50,100", param_hint="--steps"
        )
    if steps[-1] != 100:
        steps.append(100)
    return steps


def error_counts(client: Client, service: str, functions: list[str], version: str, start: int) -> tuple[int, int]:
    """(calls, failed calls) of ``version`` that started since ``start`` (epoch ms), over ``functions``.

    No upper bound: records reach the store shortly after a call ends, so the latest are read too.
    """
    total = failed = 0
    for function in functions:
        path = f"/services/{service}/functions/{function}/invocation-records"
        for record in client.pages(path, "records", versionId=version, startTime=start, limit=1000):
            if str(record.get("versionId")) != version or record.get("status") == THROTTLED:
                continue
            total += 1
            failed += record.get("status") == FAILED
    return total, failed


@alias.command("shift")
@click.argument("target", metavar="[SERVICE/]ALIAS")
@click.option("--to", "to_version", required=True, help="The new version.")
@click.option("--steps", default="10,50,100", show_default=True, help="Percentages of traffic, in order.")
@click.option("--interval", default="60s", show_default=True, help="Time at each step (30s, 0.5s, 2m).")
@click.option("--max-error-rate", default=0.05, show_default=True, type=click.FloatRange(0, 1),
              help="Roll back when the new version's failed/calls in a step is above this.")  # fmt: skip
@click.option("--function", "functions", multiple=True, help="Watch only these functions (default: all).")
@service_option
@with_client
def alias_shift(
    client: Client, target: str, to_version: str, steps: str, interval: str, max_error_rate: float,
    functions: tuple[str, ...], service: str | None,
) -> None:  # fmt: skip
    """Canary release: move traffic of ALIAS to --to in --steps, checking errors after each --interval.

    At each step the new version gets that share of calls (100 = the alias points at it). If its
    error rate in the step's window is above --max-error-rate, the alias is restored as it was and
    the command exits with status 1. Ctrl-C also restores the alias.
    """
    service, name = split_alias(target, service)
    plan, wait = parse_steps(steps), seconds(interval, option="--interval")
    path = f"/services/{service}/aliases/{name}"
    original = client.get(path)
    restore = {"versionId": original["versionId"],
               "additionalVersionWeight": original.get("additionalVersionWeight") or {}}  # fmt: skip
    if original["versionId"] == to_version:
        plan = [100]
    watched = list(functions) or [f["functionName"] for f in client.pages(f"/services/{service}.{to_version}/functions",
                                                                          "functions")]  # fmt: skip
    out = console()
    out.print(
        f"Shifting {service}/{name} from {_show(original)} to version {to_version}: steps {plan}, {interval} each"
    )

    def roll_back(reason: str) -> None:
        client.json("PUT", path, body=restore)
        raise click.ClickException(f"{reason}; rolled back: {service}/{name} → {_show(original)}")

    try:
        for step in plan:
            if step >= 100:
                body: dict[str, Any] = {"versionId": to_version, "additionalVersionWeight": {}}
            else:
                body = {"versionId": original["versionId"], "additionalVersionWeight": {to_version: step / 100}}
            start = epoch_ms("0s")
            client.json("PUT", path, body=body)
            out.print(f"  {step:>3}% → version {to_version} … waiting {interval}")
            time.sleep(wait)
            calls, failed = error_counts(client, service, watched, to_version, start)
            rate = failed / calls if calls else 0.0
            out.print(f"        version {to_version}: {calls} calls, {failed} failed ({rate:.1%})")
            if calls and rate > max_error_rate:
                roll_back(
                    f"version {to_version} failed {failed} of {calls} calls ({rate:.1%}) at {step}%, "
                    f"above --max-error-rate {max_error_rate:.1%}"
                )
    except KeyboardInterrupt:
        roll_back("interrupted")
    out.print(f"[green]Done[/]: {service}/{name} → version {to_version}")
