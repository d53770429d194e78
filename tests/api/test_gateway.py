"""The HTTP gateway with real clients: HTTP triggers (WSGI functions, auth, methods, limits, CORS),
event functions behind HTTP, and custom domains routed by Host with wildcard paths."""

from __future__ import annotations

import uuid

import fc2
import requests

from tests.api.test_services import fc_error
from tests.triggers import conftest as triggers
from tests.triggers.conftest import drop_service

# The trigger tests' fixtures (node with object storage, services that drop their triggers).
tclient, tservice, deploy = triggers.tclient, triggers.tservice, triggers.deploy

#: A WSGI function that echoes what it received.
ECHO = """
import json

def handler(environ, start_response):
    body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
    if environ["PATH_INFO"] == "/binary":
        start_response("200 OK", [("Content-Type", "application/octet-stream")])
        return [body[::-1]]
    info = {{"method": environ["REQUEST_METHOD"], "path": environ["PATH_INFO"], "query": environ["QUERY_STRING"],
            "cookie": environ.get("HTTP_COOKIE", ""), "body": body.decode(errors="replace"),
            "custom": environ.get("HTTP_X_CUSTOM", ""), "name": {label!r}}}
    start_response("201 Created", [("Content-Type", "application/json"), ("Set-Cookie", "a=1; Path=/"),
                                   ("Set-Cookie", "b=2; Path=/"), ("X-Reply", "yes")])
    return [json.dumps(info).encode()]
"""

#: An event function behind an HTTP trigger (handlerType: event): answers FC's HTTP response shape.
EVENT = """
import base64, json

def handler(event, context):
    e = json.loads(event)
    body = base64.b64decode(e["body"]) if e["isBase64Encoded"] else e["body"].encode()
    reply = {"method": e["requestContext"]["http"]["method"], "path": e["rawPath"], "q": e["queryParameters"],
             "len": len(body), "b64": e["isBase64Encoded"]}
    return json.dumps({"statusCode": 202, "headers": {"X-Event": "1"}, "body": json.dumps(reply)})
"""


def url(endpoint: str, service: str, function: str, path: str = "/", qualifier: str = "LATEST") -> str:
    return f"{endpoint}/2016-08-15/proxy/{service}.{qualifier}/{function}{path}"


def http_trigger(client: fc2.Client, service: str, function: str, name: str = "web", **config) -> dict:
    config = {"authType": "anonymous", "methods": ["GET", "POST"], **config}
    return client.create_trigger(service, function, name, "http", config, None, None).data


def test_wsgi_function_get_post_binary_query_cookies(s3_server, tclient, tservice, deploy) -> None:
    fn = deploy(ECHO, name="echo", label="echo")
    http_trigger(tclient, tservice, fn)
    r = requests.get(url(s3_server.endpoint, tservice, fn, "/a/b"), params={"x": "1", "y": "two words"},
                     cookies={"session": "abc"}, headers={"X-Custom": "hdr"})  # fmt: skip
    assert r.status_code == 201, r.text
    info = r.json()
    assert (info["method"], info["path"], info["query"]) == ("GET", "/a/b", "x=1&y=two+words")
    assert info["cookie"] == "session=abc" and info["custom"] == "hdr"
    assert r.headers["X-Reply"] == "yes" and r.headers["x-fc-request-id"]
    assert r.cookies.get_dict() == {"a": "1", "b": "2"}  # both Set-Cookie headers came through
    posted = requests.post(url(s3_server.endpoint, tservice, fn, "/form"), data={"k": "v"}).json()
    assert (posted["method"], posted["body"]) == ("POST", "k=v")
    blob = bytes(range(256)) * 40
    binary = requests.post(url(s3_server.endpoint, tservice, fn, "/binary"), data=blob)
    assert binary.status_code == 200 and binary.content == blob[::-1]
    bare = requests.get(f"{s3_server.endpoint}/2016-08-15/proxy/{tservice}/{fn}")  # no qualifier, no path
    assert bare.status_code == 201 and bare.json()["path"] == "/"


def test_methods_body_limit_and_missing_trigger(s3_server, tclient, tservice, deploy) -> None:
    fn = deploy(ECHO, name="echo", label="echo")
    no_trigger = requests.get(url(s3_server.endpoint, tservice, fn))
    assert no_trigger.status_code == 404 and no_trigger.json()["ErrorCode"] == "TriggerNotFound"
    missing = requests.get(url(s3_server.endpoint, tservice, "nofn"))
    assert missing.status_code == 404 and missing.json()["ErrorCode"] == "FunctionNotFound"
    http_trigger(tclient, tservice, fn, maxBodyBytes=100)
    put = requests.put(url(s3_server.endpoint, tservice, fn), data=b"x")
    assert put.status_code == 405 and put.json()["ErrorCode"] == "MethodNotAllowed"
    big = requests.post(url(s3_server.endpoint, tservice, fn), data=b"x" * 101)
    assert big.status_code == 413 and big.json()["ErrorCode"] == "EntityTooLarge"
    assert requests.post(url(s3_server.endpoint, tservice, fn), data=b"x" * 100).status_code == 201


def test_function_auth_needs_the_fc_signature(s3_server, tclient, tservice, deploy) -> None:
    fn = deploy(ECHO, name="echo", label="echo")
    http_trigger(tclient, tservice, fn, authType="function")
    unsigned = requests.get(url(s3_server.endpoint, tservice, fn, "/x"))
    assert unsigned.status_code == 401
    forged = requests.get(
        url(s3_server.endpoint, tservice, fn, "/x"),
        headers={"Authorization": "FC TESTKEYID0001:bm9wZQ==", "Date": "Mon, 01 Jan 2024 00:00:00 GMT"},
    )
    assert forged.status_code == 403
    signed = tclient.do_http_request("GET", tservice, fn, "/x", params={"b": "2", "a": "1"})
    assert signed.status_code == 201, signed.text
    assert signed.json()["query"] in ("b=2&a=1", "a=1&b=2")
    posted = tclient.do_http_request("POST", f"{tservice}.LATEST", fn, "/y", body=b"payload")
    assert posted.status_code == 201 and posted.json()["body"] == "payload"


def test_rate_limit_answers_429_with_retry_after(s3_server, tclient, tservice, deploy) -> None:
    fn = deploy(ECHO, name="echo", label="echo")
    http_trigger(tclient, tservice, fn, rateLimit={"requestsPerSecond": 0.5, "burst": 3})
    statuses = [requests.get(url(s3_server.endpoint, tservice, fn)) for _ in range(5)]
    assert [r.status_code for r in statuses] == [201, 201, 201, 429, 429]
    limited = statuses[-1]
    assert limited.json()["ErrorCode"] == "ResourceThrottled"
    assert int(limited.headers["Retry-After"]) >= 1


def test_cors_preflight_and_headers(s3_server, tclient, tservice, deploy) -> None:
    fn = deploy(ECHO, name="echo", label="echo")
    http_trigger(tclient, tservice, fn, cors={"allowOrigins": ["https://app.example"], "allowHeaders": ["X-Custom"],
                                              "maxAge": 60})  # fmt: skip
    target = url(s3_server.endpoint, tservice, fn, "/c")
    pre = requests.options(target, headers={"Origin": "https://app.example", "Access-Control-Request-Method": "POST"})
    assert pre.status_code == 204
    assert pre.headers["Access-Control-Allow-Origin"] == "https://app.example"
    assert pre.headers["Access-Control-Allow-Headers"] == "X-Custom" and pre.headers["Access-Control-Max-Age"] == "60"
    got = requests.get(target, headers={"Origin": "https://app.example"})
    assert got.status_code == 201 and got.headers["Access-Control-Allow-Origin"] == "https://app.example"
    other = requests.get(target, headers={"Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in other.headers


def test_event_function_gets_the_http_event(s3_server, tclient, tservice, deploy) -> None:
    fn = deploy(EVENT.replace("{", "{{").replace("}", "}}"), name="ev")
    http_trigger(tclient, tservice, fn, handlerType="event")
    r = requests.post(url(s3_server.endpoint, tservice, fn, "/e"), params={"k": "v"}, data=b"\xff\x00\x01")
    assert r.status_code == 202 and r.headers["X-Event"] == "1", r.text
    assert r.json() == {"method": "POST", "path": "/e", "q": {"k": "v"}, "len": 3, "b64": True}
    queued = requests.post(url(s3_server.endpoint, tservice, fn, "/e"), headers={"X-Fc-Invocation-Type": "Async"})
    assert queued.status_code == 202 and queued.headers["x-fc-request-id"]
    access = [line for line in s3_server.log().splitlines() if '"POST /2016-08-15/proxy/' in line and "/ev/e" in line]
    assert access and "request_id=" in access[-1] and " 202 " in access[-1]  # one access-log line per request


def test_custom_domain_crud_and_wildcard_routing(s3_server, tclient, deploy, code_dir) -> None:
    service = f"dom_{uuid.uuid4().hex[:8]}"
    domain = f"{uuid.uuid4().hex[:8]}.example.com"
    tclient.create_service(service)
    try:
        for name in ("home", "users", "me"):
            tclient.create_function(service, name, "python3", "index.handler",
                                    codeDir=code_dir(index=ECHO.format(label=name)))  # fmt: skip
            http_trigger(tclient, service, name, methods=["GET", "POST", "DELETE"])
        routes = {"routes": [
            {"path": "/*", "serviceName": service, "functionName": "home", "qualifier": None},
            {"path": "/users/*", "serviceName": service, "functionName": "users", "qualifier": "LATEST"},
            {"path": "/users/me", "serviceName": service, "functionName": "me", "methods": ["GET"]},
        ]}  # fmt: skip
        cert = {"certName": "c", "certificate": "-----BEGIN CERTIFICATE-----", "privateKey": "secret-key"}
        made = tclient.create_custom_domain(domain, protocol="HTTP", routeConfig=routes, certConfig=cert).data
        assert made["routeConfig"] == routes and made["certConfig"]["privateKey"] is None
        assert made["domainName"] == domain and made["apiVersion"] == "2016-08-15"
        duplicate = fc_error(tclient.create_custom_domain, domain, protocol="HTTP", routeConfig=routes)
        assert duplicate.status_code == 400
        assert tclient.get_custom_domain(domain).data["routeConfig"] == routes
        assert domain in [d["domainName"] for d in tclient.list_custom_domains().data["customDomains"]]

        def call(path: str, method: str = "GET") -> requests.Response:
            return requests.request(method, s3_server.endpoint + path, headers={"Host": domain})

        assert call("/").json()["name"] == "home"
        assert call("/about/team").json()["name"] == "home"
        users = call("/users/42?x=1").json()
        assert (users["name"], users["path"], users["query"]) == ("users", "/users/42", "x=1")
        assert call("/users/me").json()["name"] == "me"  # longest match wins
        assert call("/users/me", "DELETE").status_code == 405  # the route allows GET only
        assert requests.get(s3_server.endpoint + "/healthz").text == "ok"  # other hosts: the API as usual

        tclient.update_custom_domain(domain, routeConfig={"routes": [routes["routes"][1]]})
        assert call("/").status_code == 404
        tclient.delete_custom_domain(domain)
        assert fc_error(tclient.get_custom_domain, domain).status_code == 404
    finally:
        drop_service(tclient, service)
