"""A small signed client of the FC API (httpx, keep-alive) and the Step Functions client (boto3)."""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Callable, Iterator, Mapping
from email.utils import formatdate
from typing import Any, TypeVar, cast
from urllib.parse import quote, unquote

import click
import httpx

from openfc.auth import authorization
from openfc.cli.config import Profile, resolve

PREFIX = "/2016-08-15"
UPLOAD_CHUNK = 64 * 1024

F = TypeVar("F", bound=Callable[..., Any])


class ApiError(click.ClickException):
    """An FC error answer (``{"ErrorCode", "ErrorMessage"}``) as a clean CLI error."""

    def __init__(self, status: int, code: str, message: str, request_id: str = "") -> None:
        super().__init__(f"{code}: {message}" + (f" (request id {request_id})" if request_id else ""))
        self.status = status
        self.error_code = code
        self.error_message = message
        self.request_id = request_id


class Client:
    """Signs each request the way ``aliyun-fc2`` does: the resource is the decoded path, no query."""

    def __init__(self, profile: Profile, *, timeout: float = 600.0) -> None:
        self.profile = profile
        self.http = httpx.Client(base_url=profile.endpoint, timeout=timeout)

    def close(self) -> None:
        self.http.close()

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, object] | None = None,
        body: object = None,
        content: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        progress: Callable[[int], None] | None = None,
    ) -> httpx.Response:
        """Send one request under ``/2016-08-15`` (unless ``path`` starts with another version).

        body: a JSON value to send; content: raw bytes instead (invoke). progress: called with the
        number of bytes sent after each chunk (upload progress bars).
        """
        if not path.startswith(("/2016-08-15/", "/2021-04-06/")):
            path = PREFIX + path
        data = content if content is not None else (b"" if body is None else json.dumps(body).encode())
        sent: dict[str, str] = {
            "content-type": "application/json" if content is None else "application/octet-stream",
            "date": formatdate(usegmt=True),
            **{k.lower(): v for k, v in (headers or {}).items()},
        }
        sent["authorization"] = authorization(
            self.profile.access_key_id, self.profile.access_key_secret, method, sent, unquote(path)
        )
        query = {k: str(v) for k, v in (params or {}).items() if v is not None and v != ""}
        payload: bytes | Iterator[bytes] = data
        if progress is not None and data:
            sent["content-length"] = str(len(data))
            payload = _chunks(data, progress)
        try:
            response = self.http.request(method, quote(path), params=query, content=payload, headers=sent)
        except httpx.TransportError as error:
            raise click.ClickException(f"cannot reach {self.profile.endpoint}: {error}") from None
        if response.status_code >= 400:
            raise api_error(response)
        return response

    def json(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.request(method, path, **kwargs)
        return response.json() if response.content else {}

    def get(self, path: str, **params: object) -> Any:
        return self.json("GET", path, params=params)

    def pages(self, path: str, key: str, **params: object) -> Iterator[dict[str, Any]]:
        """Every item of a paged FC list (``nextToken`` until it is absent or empty)."""
        token = None
        while True:
            page = self.get(path, **params, nextToken=token)
            yield from page.get(key) or []
            token = page.get("nextToken")
            if not token:
                return

    def exists(self, path: str, **params: object) -> dict[str, Any] | None:
        """The resource at ``path``, or ``None`` when the server answers 404 *NotFound (not a missing route)."""
        try:
            return cast(dict[str, Any], self.get(path, **params))
        except ApiError as error:
            if error.status == 404 and error.error_code != "PathNotFound":
                return None
            raise

    def stepfunctions(self) -> Any:
        """A boto3 Step Functions client on the same endpoint and key (SigV4)."""
        import boto3
        from botocore.config import Config

        return boto3.client(
            "stepfunctions",
            endpoint_url=self.profile.endpoint,
            region_name=self.profile.region,
            aws_access_key_id=self.profile.access_key_id,
            aws_secret_access_key=self.profile.access_key_secret,
            config=Config(retries={"max_attempts": 2, "mode": "standard"}),
        )


def _chunks(data: bytes, progress: Callable[[int], None]) -> Iterator[bytes]:
    for start in range(0, len(data), UPLOAD_CHUNK):
        chunk = data[start : start + UPLOAD_CHUNK]
        yield chunk
        progress(len(chunk))


def api_error(response: httpx.Response) -> ApiError:
    request_id = response.headers.get("x-fc-request-id", "")
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and ("ErrorCode" in body or "errorCode" in body):
        code = str(body.get("ErrorCode") or body.get("errorCode"))
        message = str(body.get("ErrorMessage") or body.get("errorMessage") or "")
        return ApiError(response.status_code, code, message, request_id)
    text = response.text.strip()[:500] or response.reason_phrase
    return ApiError(response.status_code, f"HTTP{response.status_code}", text, request_id)


def sfn_error(error: Exception) -> click.ClickException:
    """A botocore ``ClientError`` → a clean CLI error (``Code: message``)."""
    info = getattr(error, "response", {}).get("Error", {})
    if info:
        return click.ClickException(f"{info.get('Code', 'Error')}: {info.get('Message', '')}")
    return click.ClickException(str(error))


def with_client(command: F) -> F:
    """Add ``--endpoint/--access-key-id/--access-key-secret/--profile`` and pass ``client=Client(...)``."""

    @click.option("--profile", "profile_name", default=None, help="Profile in the config file [OPENFC_PROFILE].")
    @click.option("--access-key-secret", default=None, help="Access key secret [OPENFC_ACCESS_KEY_SECRET].")
    @click.option("--access-key-id", default=None, help="Access key id [OPENFC_ACCESS_KEY_ID].")
    @click.option("--endpoint", default=None, help="API endpoint, e.g. http://127.0.0.1:9000 [OPENFC_ENDPOINT].")
    @functools.wraps(command)
    def wrapper(
        *args: Any,
        profile_name: str | None,
        endpoint: str | None,
        access_key_id: str | None,
        access_key_secret: str | None,
        **kwargs: Any,
    ) -> Any:
        profile = resolve(
            os.environ,
            profile=profile_name,
            endpoint=endpoint,
            access_key_id=access_key_id,
            access_key_secret=access_key_secret,
        )
        if not profile.access_key_id or not profile.access_key_secret:
            raise click.ClickException(
                "no access key: run 'openfc configure', set OPENFC_ACCESS_KEY_ID/OPENFC_ACCESS_KEY_SECRET "
                "or pass --access-key-id/--access-key-secret"
            )
        client = Client(profile)
        try:
            return command(*args, client=client, **kwargs)
        finally:
            client.close()

    return cast(F, wrapper)


def split_function(target: str) -> tuple[str, str]:
    """``service/function`` → (service, function)."""
    service, sep, function = target.partition("/")
    if not sep or not service or not function or "/" in function:
        raise click.BadParameter(f"'{target}': expected SERVICE/FUNCTION", param_hint="TARGET")
    return service, function
