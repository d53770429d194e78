"""FC API routes of triggers and custom domains (management, FC-signed).

- ``POST|GET /2016-08-15/services/{s}/functions/{f}/triggers``; ``GET|PUT|DELETE …/triggers/{t}``
  (list: ``limit, prefix, startKey, nextToken`` → ``{triggers, nextToken}``; If-Match on PUT/DELETE)
- ``POST|GET /2016-08-15/custom-domains``; ``GET|PUT|DELETE /2016-08-15/custom-domains/{domain}``
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from openfc.api.fc import PREFIX, body_json, endpoint, if_match, page_response, query
from openfc.api.state import Platform
from openfc.store import Doc


def _names(request: Request) -> tuple[str, str]:
    return request.path_params["service"], request.path_params["function"]


def trigger_response(p: Platform, doc: Doc) -> Response:
    return JSONResponse(p.triggers.triggers.render(doc), headers={"etag": doc.etag})


async def create_trigger(request: Request, p: Platform) -> Response:
    return trigger_response(p, await p.triggers.triggers.create(*_names(request), await body_json(request)))


async def get_trigger(request: Request, p: Platform) -> Response:
    return trigger_response(p, await p.triggers.triggers.get(*_names(request), request.path_params["trigger"]))


async def update_trigger(request: Request, p: Platform) -> Response:
    body = await body_json(request)
    doc = await p.triggers.triggers.update(*_names(request), request.path_params["trigger"], body, if_match(request))
    return trigger_response(p, doc)


async def delete_trigger(request: Request, p: Platform) -> Response:
    await p.triggers.triggers.delete(*_names(request), request.path_params["trigger"], if_match(request))
    return Response(status_code=204)


async def list_triggers(request: Request, p: Platform) -> Response:
    return page_response("triggers", await p.triggers.triggers.page(*_names(request), query(request)))


# -- custom domains -----------------------------------------------------------------------


def domain_response(p: Platform, doc: Doc) -> Response:
    return JSONResponse(p.domains.render(doc), headers={"etag": doc.etag})


async def create_domain(request: Request, p: Platform) -> Response:
    return domain_response(p, await p.domains.create(await body_json(request)))


async def get_domain(request: Request, p: Platform) -> Response:
    return domain_response(p, await p.domains.get(request.path_params["domain"]))


async def update_domain(request: Request, p: Platform) -> Response:
    return domain_response(p, await p.domains.update(request.path_params["domain"], await body_json(request)))


async def delete_domain(request: Request, p: Platform) -> Response:
    await p.domains.delete(request.path_params["domain"])
    return Response(status_code=204)


async def list_domains(request: Request, p: Platform) -> Response:
    return page_response("customDomains", await p.domains.page(query(request)))


T = PREFIX + "/services/{service}/functions/{function}/triggers"
D = PREFIX + "/custom-domains"

routes = [
    Route(T, endpoint(create_trigger), methods=["POST"]),
    Route(T, endpoint(list_triggers), methods=["GET"]),
    Route(T + "/{trigger}", endpoint(get_trigger), methods=["GET"]),
    Route(T + "/{trigger}", endpoint(update_trigger), methods=["PUT"]),
    Route(T + "/{trigger}", endpoint(delete_trigger), methods=["DELETE"]),
    Route(D, endpoint(create_domain), methods=["POST"]),
    Route(D, endpoint(list_domains), methods=["GET"]),
    Route(D + "/{domain}", endpoint(get_domain), methods=["GET"]),
    Route(D + "/{domain}", endpoint(update_domain), methods=["PUT"]),
    Route(D + "/{domain}", endpoint(delete_domain), methods=["DELETE"]),
]
