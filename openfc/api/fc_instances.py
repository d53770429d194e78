"""FC API routes for layers, provision configs (reserved instances) and the instances of a function."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from openfc.api.fc import CODE_URL_TTL, PREFIX, body_json, code_signature, endpoint, path_service, query
from openfc.api.state import Platform
from openfc.control import LATEST
from openfc.control.layers import Layers
from openfc.control.provision import ProvisionConfigs, Provisioner, public
from openfc.store import JSON, Doc


@dataclass(slots=True)
class Capacity:
    """The control-plane pieces these routes use (built once, in ``app.build_app``)."""

    layers: Layers
    provision: ProvisionConfigs
    provisioner: Provisioner


def build(platform: Platform) -> Capacity:
    settings = platform.settings
    configs = ProvisionConfigs(platform.store, platform.registry, account_id=settings.account_id)
    return Capacity(
        Layers(
            platform.store,
            region=settings.region,
            account_id=settings.account_id,
            read_object=platform.registry.read_object,
        ),
        configs,
        Provisioner(configs, platform.pool),
    )


def capacity(request: Request) -> Capacity:
    value: Capacity = request.app.state.capacity
    return value


# -- layers -------------------------------------------------------------------------------


def layer_response(request: Request, p: Platform, doc: Doc) -> JSON:
    out = {k: v for k, v in doc.body.items() if not k.startswith("_")}
    digest = doc.body["_codeDigest"]
    expires = int(time.time()) + CODE_URL_TTL
    signature = code_signature(p.key.secret, digest, expires)
    location = f"{request.base_url}{PREFIX[1:]}/code/{digest}?expires={expires}&signature={signature}"
    out["code"] = {"repositoryType": doc.body["code"]["repositoryType"], "location": location}
    return out


async def publish_layer_version(request: Request, p: Platform) -> Response:
    doc = await capacity(request).layers.publish(request.path_params["name"], await body_json(request))
    return JSONResponse(layer_response(request, p, doc))


async def list_layers(request: Request, p: Platform) -> Response:
    items, token = await capacity(request).layers.list_layers(query(request))
    body: dict[str, Any] = {"layers": items}
    if token:
        body["nextToken"] = token
    return JSONResponse(body)


async def list_layer_versions(request: Request, p: Platform) -> Response:
    items, following = await capacity(request).layers.list_versions(request.path_params["name"], query(request))
    body: dict[str, Any] = {"layers": items}
    if following is not None:
        body["nextVersion"] = following
    return JSONResponse(body)


async def get_layer_version(request: Request, p: Platform) -> Response:
    doc = await capacity(request).layers.version(request.path_params["name"], request.path_params["version"])
    return JSONResponse(layer_response(request, p, doc))


async def delete_layer_version(request: Request, p: Platform) -> Response:
    await capacity(request).layers.delete(request.path_params["name"], request.path_params["version"])
    return Response(status_code=204)


async def get_layer_by_arn(request: Request, p: Platform) -> Response:
    doc = await capacity(request).layers.by_arn(request.path_params["arn"])
    return JSONResponse(layer_response(request, p, doc))


# -- provision configs ----------------------------------------------------------------------


async def put_provision(request: Request, p: Platform) -> Response:
    service, qualifier = path_service(request)
    cap = capacity(request)
    doc = await cap.provision.put(service, qualifier, request.path_params["function"], await body_json(request))
    await cap.provisioner.reconcile()  # start (or stop) instances now, not at the next period
    return JSONResponse(public(doc.body, *cap.provisioner.status(doc.body)), headers={"etag": doc.etag})


async def get_provision(request: Request, p: Platform) -> Response:
    service, qualifier = path_service(request)
    cap = capacity(request)
    config = await cap.provision.get(service, qualifier, request.path_params["function"])
    return JSONResponse(public(config, *cap.provisioner.status(config)))


async def list_provision(request: Request, p: Platform) -> Response:
    cap = capacity(request)
    items, token = await cap.provision.page(query(request))
    body: dict[str, Any] = {"provisionConfigs": [public(c, *cap.provisioner.status(c)) for c in items]}
    if token:
        body["nextToken"] = token
    return JSONResponse(body)


# -- instances ------------------------------------------------------------------------------


async def list_instances(request: Request, p: Platform) -> Response:
    service, qualifier = path_service(request)
    function = request.path_params["function"]
    await p.registry.function(service, function)
    if qualifier == LATEST:
        versions = {LATEST}
    elif qualifier.isdigit():
        await p.registry.versions.version(service, qualifier)
        versions = {qualifier}
    else:
        alias = (await p.registry.versions.alias(service, qualifier)).body
        versions = {alias["versionId"], *alias["additionalVersionWeight"]}
    wanted = {i for raw in request.query_params.getlist("instanceIds") for i in raw.split(",") if i}
    limit = int(request.query_params.get("limit") or 0)
    now = time.time()
    items = []
    for info in sorted(p.pool.instances(service, function), key=lambda i: i.started_at):
        if info.version_id not in versions or (wanted and info.id not in wanted):
            continue
        items.append(
            {
                "instanceId": info.id,
                "versionId": info.version_id,
                "qualifier": info.qualifier,
                "state": info.state,
                "provisioned": info.provisioned,
                "inflight": info.inflight,
                "createdTime": datetime.fromtimestamp(info.started_at, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z",
                "age": round(now - info.started_at, 3),
            }
        )
    return JSONResponse({"instances": items[:limit] if limit > 0 else items})


F = PREFIX + "/services/{service}/functions/{function}"

routes = [
    Route(PREFIX + "/layers", endpoint(list_layers), methods=["GET"]),
    Route(PREFIX + "/layers/{name}/versions", endpoint(publish_layer_version), methods=["POST"]),
    Route(PREFIX + "/layers/{name}/versions", endpoint(list_layer_versions), methods=["GET"]),
    Route(PREFIX + "/layers/{name}/versions/{version}", endpoint(get_layer_version), methods=["GET"]),
    Route(PREFIX + "/layers/{name}/versions/{version}", endpoint(delete_layer_version), methods=["DELETE"]),
    Route(PREFIX + "/layerarn/{arn:path}", endpoint(get_layer_by_arn), methods=["GET"]),
    Route(F + "/provision-config", endpoint(put_provision), methods=["PUT"]),
    Route(F + "/provision-config", endpoint(get_provision), methods=["GET"]),
    Route(PREFIX + "/provision-configs", endpoint(list_provision), methods=["GET"]),
    Route(F + "/instances", endpoint(list_instances), methods=["GET"]),
]
