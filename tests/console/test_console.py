"""The web console in headless Debian Chromium (Playwright): log in, invoke, follow logs, watch executions.

Screenshots land in ``artifacts/console/`` at the repository root.
"""

from __future__ import annotations

import json
import os
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import boto3
import pytest

from tests.conftest import ACCESS_KEY_ID, ACCESS_KEY_SECRET, Server, wait_until

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts" / "console"
ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]  # fmt: skip
TIMEOUT = 20_000  #: ms, for every auto-waiting expectation


def _unavailable(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"console tests need {reason} in CI", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    if not os.path.exists(CHROMIUM):
        _unavailable(f"Debian chromium at {CHROMIUM} (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("playwright for Python (pip install 'openfc[test]')")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser, server: Server):
    from playwright.sync_api import expect

    expect.set_options(timeout=TIMEOUT)
    context = browser.new_context(viewport={"width": 1366, "height": 768})
    page = context.new_page()
    page.set_default_timeout(TIMEOUT)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    yield page
    context.close()
    assert not errors, f"JavaScript errors in the console: {errors}"


def shot(page, name: str, *, full: bool = False) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=full)


def log_in(page, server: Server, key_id: str = ACCESS_KEY_ID, secret: str = ACCESS_KEY_SECRET) -> None:
    page.goto(server.endpoint + "/console")
    page.fill("input[name=accessKeyId]", key_id)
    page.fill("input[name=accessKeySecret]", secret)
    page.click("form#login-form button[type=submit]")


def console_api(page, server: Server, path: str) -> Any:
    """The console's JSON API with the page's session cookie."""
    response = page.request.get(server.endpoint + "/console/api" + path)
    assert response.ok, response.text()
    return response.json()


def test_api_needs_a_session(server: Server) -> None:
    import requests

    response = requests.get(server.endpoint + "/console/api/services", timeout=10)
    assert response.status_code == 401
    assert response.json()["ErrorCode"] == "ConsoleLoginRequired"
    shell = requests.get(server.endpoint + "/console", timeout=10)
    assert shell.status_code == 200 and "/console/static/app.js" in shell.text
    assert "default-src 'self'" in shell.headers["content-security-policy"]
    assert "http" not in re.sub(r"http://www\.w3\.org/2000/svg", "", _static_text()), "assets must not load from a CDN"
    forged = requests.get(
        server.endpoint + "/console/api/services", cookies={"openfc_console": f"{ACCESS_KEY_ID}.9999999999.00"}
    )  # fmt: skip
    assert forged.status_code == 401


def _static_text() -> str:
    static = Path(__file__).resolve().parents[2] / "openfc" / "console" / "static"
    return "".join(p.read_text() for p in sorted(static.iterdir()) if p.suffix in (".html", ".js", ".css"))


def test_login_rejects_a_wrong_key_then_lists_services(page, server: Server, service: str) -> None:
    from playwright.sync_api import expect

    log_in(page, server, secret="not-the-secret")
    expect(page.locator("#login-error")).to_have_text("Wrong AccessKey ID or secret.")
    shot(page, "login-error")

    log_in(page, server)
    expect(page.locator("#services")).to_contain_text(service)
    cookie = next(c for c in page.context.cookies() if c["name"] == "openfc_console")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    shot(page, "services")

    page.click("#logout")
    expect(page.locator("#login-form")).to_be_visible()
    assert page.request.get(server.endpoint + "/console/api/services").status == 401


HELLO = """
def handler(event, context):
    text = event.decode().strip('"')  # workflow Tasks send JSON: "ada"
    print("console-marker " + text)
    if text.startswith("fail"):
        raise ValueError("failed on purpose: " + text)
    return "hello " + text
"""


def test_function_page_invokes_and_follows_logs(page, server: Server, client, service: str, code_dir) -> None:
    from playwright.sync_api import expect

    client.create_function(service, "hello", "python3", "index.handler", codeDir=code_dir(index=HELLO))
    client.publish_version(service, "first")
    client.update_function(service, "hello", description="second cut")
    client.publish_version(service, "second")
    client.create_alias(service, "prod", "1", additionalVersionWeight={"2": 0.25})
    marker = uuid.uuid4().hex[:12]

    log_in(page, server)
    expect(page.locator("#services")).to_contain_text(service)
    page.click(f"text={service}")
    expect(page.locator("#functions")).to_contain_text("hello")
    expect(page.locator("#aliases")).to_contain_text("v2 25%")
    page.click("#functions >> text=hello")

    expect(page.locator("#config")).to_contain_text("index.handler")
    expect(page.locator("#aliases")).to_contain_text("v1 75%")
    expect(page.locator("#logs").locator("xpath=..")).to_contain_text("following")
    page.fill("#invoke-form textarea", marker)
    page.click("#invoke-form button[type=submit]")
    expect(page.locator("#invoke-body")).to_have_text(f"hello {marker}")
    expect(page.locator("#invoke-log")).to_contain_text(f"console-marker {marker}")
    request_id = page.locator("#invoke-request-id").inner_text()

    # the live log (long poll) and the recent invocations table pick the call up by themselves
    expect(page.locator("#logs")).to_contain_text(f"console-marker {marker}")
    expect(page.locator(f'#logs .line[data-request-id="{request_id}"]').first).to_be_visible()
    expect(page.locator(f'#records tr[data-request-id="{request_id}"]')).to_contain_text("Succeeded")
    expect(page.locator('figure[data-chart="invocations"]')).to_contain_text("total 1")

    page.select_option("#invoke-form select", "prod")
    page.fill("#invoke-form textarea", "fail-" + marker)
    page.click("#invoke-form button[type=submit]")
    expect(page.locator("#invoke-result")).to_contain_text("Failed")
    expect(page.locator("#invoke-body")).to_contain_text(f"failed on purpose: fail-{marker}")
    expect(page.locator("#logs")).to_contain_text(f"console-marker fail-{marker}")
    expect(page.locator('figure[data-chart="errors"]')).to_contain_text("total 1")
    expect(page.locator("#instances")).to_contain_text("idle")
    page.locator("#logs").scroll_into_view_if_needed()
    shot(page, "function")
    shot(page, "function-full", full=True)


MACHINE = {
    "Comment": "Pass, Task (callback, plain, failing), Choice, Fail: one of each status",
    "StartAt": "Prepare",
    "States": {
        "Prepare": {"Type": "Pass", "Result": {"kind": "order"}, "ResultPath": "$.prepared", "Next": "Approve"},
        "Approve": {  # stays running until the test sends the task token back
            "Type": "Task", "Resource": "{fn}.waitForTaskToken", "Parameters": {"token.$": "$$.Task.Token"},
            "ResultPath": "$.approval", "Next": "Greet",
        },
        "Greet": {
            "Type": "Task", "Resource": "{fn}", "InputPath": "$.name", "ResultPath": "$.greeting", "Next": "Risky",
        },
        "Risky": {
            "Type": "Task", "Resource": "{fn}", "InputPath": "$.bad", "ResultPath": "$.risky",
            "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Decide"}], "Next": "Decide",
        },
        "Decide": {
            "Type": "Choice",
            "Choices": [{"Variable": "$.prepared.kind", "StringEquals": "refund", "Next": "Done"}],
            "Default": "Boom",
        },
        "Done": {"Type": "Succeed"},
        "Boom": {"Type": "Fail", "Error": "NoRefund", "Cause": "orders are not refunded"},
    },
}  # fmt: skip


def sfn_client(server: Server):
    return boto3.client(
        "stepfunctions", endpoint_url=server.endpoint, region_name="us-east-1",
        aws_access_key_id=ACCESS_KEY_ID, aws_secret_access_key=ACCESS_KEY_SECRET,
    )  # fmt: skip


def test_execution_page_colours_states_by_status(page, server: Server, client, service: str, code_dir) -> None:
    from playwright.sync_api import expect

    client.create_function(service, "hello", "python3", "index.handler", codeDir=code_dir(index=HELLO))
    fn = f"acs:fc:cn-hangzhou:123:services/{service}.LATEST/functions/hello"
    definition = json.dumps(MACHINE).replace("{fn}", fn)
    sfn = sfn_client(server)
    name = f"console-{uuid.uuid4().hex[:8]}"
    machine_arn = sfn.create_state_machine(name=name, definition=definition, roleArn="arn:aws:iam::1:role/x")[
        "stateMachineArn"
    ]
    execution_arn = sfn.start_execution(
        stateMachineArn=machine_arn, name="run-1", input=json.dumps({"name": "ada", "bad": "fail-now"})
    )["executionArn"]

    log_in(page, server)
    expect(page.locator("#services")).to_be_visible()
    page.click("nav >> text=State machines")
    page.click(f"#state-machines >> text={name}")
    expect(page.locator("svg.graph .node")).to_have_count(7)
    expect(page.locator("#executions")).to_contain_text("RUNNING")
    shot(page, "state-machine")

    def node(state: str):
        return page.locator(f"#execution-graph .node[data-state='{state}']")

    page.click("#executions >> text=run-1")
    expect(node("Approve")).to_have_attribute("data-status", "running")
    expect(page.locator("#execution-status")).to_have_text("RUNNING")
    expect(node("Prepare")).to_have_attribute("data-status", "succeeded")
    expect(node("Greet")).to_have_attribute("data-status", "notstarted")
    shot(page, "execution-running")

    history = sfn.get_execution_history(executionArn=execution_arn)["events"]
    scheduled = next(e for e in history if e["type"] == "TaskScheduled")
    token = json.loads(scheduled["taskScheduledEventDetails"]["parameters"])["token"]
    sfn.send_task_success(taskToken=token, output=json.dumps({"approved": True}))
    # the page polls every second while the execution runs: no reload
    expect(page.locator("#execution-status")).to_have_text("FAILED")
    expected = {
        "Prepare": "succeeded", "Approve": "succeeded", "Greet": "succeeded", "Risky": "caught",
        "Decide": "succeeded", "Boom": "failed", "Done": "notstarted",
    }  # fmt: skip
    for state, status in expected.items():
        expect(node(state)).to_have_attribute("data-status", status)
    node("Greet").click()
    expect(page.locator("#state-input")).to_contain_text('"ada"')
    expect(page.locator("#state-output")).to_contain_text("hello ada")
    shot(page, "execution")
    node("Risky").click()
    expect(page.locator("#state-details")).to_contain_text("failed on purpose: fail-now")
    assert sfn.describe_execution(executionArn=execution_arn)["status"] == "FAILED"


def test_dead_letter_redrive_button(page, server: Server, client, service: str, code_dir) -> None:
    from playwright.sync_api import expect

    client.create_function(service, "hello", "python3", "index.handler", codeDir=code_dir(index=HELLO))
    client.put_function_async_invoke_config(service, "LATEST", "hello", {"maxAsyncRetryAttempts": 0})
    client.invoke_function(service, "hello", payload="fail-async", headers={"x-fc-invocation-type": "Async"})

    log_in(page, server)
    expect(page.locator("#services")).to_be_visible()

    def letters() -> list[dict[str, Any]]:
        rows = console_api(page, server, "/async")["functions"]
        return [x for row in rows if row["serviceName"] == service for x in row["deadLetters"]]

    (letter,) = cast(list[dict[str, Any]], wait_until(letters))
    page.click("nav >> text=Async")
    row = page.locator(f'#dead-letters tr[data-letter="{letter["id"]}"]')
    expect(row).to_contain_text("fail-async")
    expect(row).to_contain_text("failed on purpose")
    shot(page, "async")
    row.locator("button.redrive").click()
    expect(page.locator("#redrive-notice")).to_contain_text(letter["id"])

    def failed_runs() -> int:
        records = console_api(page, server, f"/services/{service}/functions/hello/records")["records"]
        return sum(1 for r in records if r["status"] == "Failed")

    wait_until(lambda: failed_runs() == 2)  # the re-driven event ran again (and failed again)
