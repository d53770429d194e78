"""``openfc serve | ...``: run a node, and operate one."""

from __future__ import annotations

import os
from pathlib import Path

import click

from openfc.cli import alias, commands, deploy, flows


@click.group()
@click.version_option(package_name="openfc")
def main() -> None:
    """openfc: a self-hosted Function Compute platform."""


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address the API listens on.")
@click.option("--port", default=9000, show_default=True, type=int, help="Port of the FC / Step Functions API.")
@click.option(
    "--data-dir",
    default="./openfc-data",
    show_default=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="The node's directory: SQLite store, blobs, unpacked code, keys.",
)
@click.option("--store", "store_url", default="", help="Store URL (default: sqlite:///<data-dir>/openfc.db).")
@click.option("--s3-port", type=int, default=None, help="Port of the S3-compatible object storage.")
@click.option("--idle-timeout", type=float, default=None, help="Seconds an idle instance is kept warm [600].")
def serve(
    host: str, port: int, data_dir: Path, store_url: str, s3_port: int | None, idle_timeout: float | None
) -> None:
    """Start a node: the FC API, the instance pool and everything behind them."""
    import uvicorn

    from openfc.api import build_app
    from openfc.auth import root_key
    from openfc.config import Settings

    settings = Settings.from_environ(
        os.environ,
        host=host,
        port=port,
        data_dir=data_dir,
        store_url=store_url,
        s3_port=s3_port,
        idle_timeout=idle_timeout,
    )
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(settings.data_dir, 0o711)
    key = root_key(settings.data_dir, os.environ)
    if key.generated:
        click.echo(
            f"Created the root access key (kept in {settings.data_dir / 'credentials.json'}, shown once):\n"
            f"  AccessKeyID:     {key.id}\n  AccessKeySecret: {key.secret}",
            err=True,
        )
    click.echo(f"openfc listening on http://{host}:{port} (data dir {settings.data_dir})", err=True)
    uvicorn.run(
        build_app(settings, key),
        host=host,
        port=port,
        loop="uvloop",
        http="httptools",
        log_level="warning",
        timeout_graceful_shutdown=10,
        limit_concurrency=None,
        backlog=4096,
    )


# -- operate a node (openfc/cli/{commands,deploy,alias,flows}.py) -------------------------
for _command in (
    commands.configure, deploy.deploy, commands.invoke, commands.logs, commands.usage, commands.versions,
    alias.alias, commands.layers, commands.dead_letters, flows.flows, flows.executions,
    commands.nodes,  # cluster
):  # fmt: skip
    main.add_command(_command)
