"""A person approves a round's plan in the Prefect UI, in a real headless Chromium; then the round creates its jobs.

The session's `prefect server start`, `labelrounds deploy --only lemons` to a pool of its own, one process worker,
the sandbox in a subprocess. The round (approve_plan, suspend gate) suspends after validation with the plan and a
form; Chromium, driven over the DevTools protocol (websockets, already a Prefect dependency), opens the flow run's
page, clicks Resume, chooses "approve", types a comment and submits. Oracles: raw HTTP reads of the sandbox (no job
and no account before, each image in one job after) and the answer as the Prefect server stored it.
"""

from __future__ import annotations

import base64
import itertools
import json
import re
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from oracles import RawApi, assert_each_image_once, round_key_of
from websockets.sync.client import ClientConnection, connect

from labelrounds.sandbox.server import SandboxServer

from .prefect_rest import PrefectRest
from .processes import ManagedProcess, PrefectServer, labelrounds_deploy

POOL = "approvals"
ROUND = "browser-approved"
COMMENT = "approved in the browser"
PASSWORD = "Lemon-approval-2026"
# Real servers and processes on two shared cores: a generous bound per test (setup included), not a speed check.
pytestmark = pytest.mark.timeout(900)


class Chromium:
    """Headless Chromium driven over the DevTools protocol: navigate, evaluate JavaScript, wait, screenshot."""

    def __init__(self, profile: Path) -> None:
        executable = shutil.which("chromium") or shutil.which("chromium-browser")
        assert executable, "headless Chromium is missing: `make test` installs it (apt-get install chromium)"
        self.process = subprocess.Popen(  # noqa: S603 - fixed arguments
            [
                executable,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--hide-scrollbars",
                "--window-size=1400,1000",
                "--remote-debugging-port=0",
                f"--user-data-dir={profile}",
                "about:blank",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        self.ids = itertools.count(1)
        self.page = self._connect()

    def _connect(self) -> ClientConnection:
        """The first page's DevTools connection (the port comes from the browser's "DevTools listening" line)."""
        assert self.process.stderr is not None
        for line in self.process.stderr:
            listening = re.search(r"DevTools listening on ws://127\.0\.0\.1:(\d+)/", line)
            if listening:
                pages = httpx.get(f"http://127.0.0.1:{listening[1]}/json/list", timeout=30).json()
                page = next(target for target in pages if target["type"] == "page")
                return connect(page["webSocketDebuggerUrl"], max_size=None, open_timeout=30)
        raise AssertionError(f"Chromium exited before listening (code {self.process.wait(10)})")

    def command(self, method: str, **params: Any) -> dict[str, Any]:
        """Send one DevTools command and return its result (events in between are skipped)."""
        command_id = next(self.ids)
        self.page.send(json.dumps({"id": command_id, "method": method, "params": params}))
        while True:
            message = json.loads(self.page.recv(timeout=60))
            if message.get("id") == command_id:
                assert "error" not in message, message["error"]
                return dict(message.get("result", {}))

    def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression in the page."""
        result = self.command(
            "Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True
        )
        assert "exceptionDetails" not in result, result["exceptionDetails"]
        return result["result"].get("value")

    def wait_for(self, expression: str, what: str, timeout: float = 120) -> None:
        """Poll until the expression is truthy in the page (it may still be rendering)."""
        deadline = time.monotonic() + timeout
        while not self.evaluate(f"!!({expression})"):
            assert time.monotonic() < deadline, f"the page did not show {what} within {timeout:g} s"
            time.sleep(0.3)

    def screenshot(self, path: Path) -> None:
        """A PNG of the page as it is."""
        path.write_bytes(base64.b64decode(self.command("Page.captureScreenshot", format="png")["data"]))

    def close(self) -> None:
        """Close the connection and the browser."""
        self.page.close()
        self.process.kill()
        self.process.wait(10)


def button(label: str, scope: str = "") -> str:
    """JavaScript: the first button under `scope` whose text is `label`."""
    return (
        f"Array.from(document.querySelectorAll('{scope} button')).find(b => b.innerText.trim() === {label!r})"
    )


#: JavaScript: the resume form's dialog (a modal with a schema form).
DIALOG = "document.querySelector('[role=dialog]')"
#: JavaScript: the markdown the form shows above its fields (the run input's description).
DESCRIPTION = f"{DIALOG}?.querySelector('.p-modal__body > article.markdown-renderer')"


def set_field(selector: str, value: str, event: str) -> str:
    """JavaScript: set a form control in the dialog as typing or choosing does (the UI listens to `event`)."""
    return (
        f"(() => {{ const field = {DIALOG}.querySelector({selector!r}); field.value = {value!r}; "
        f"field.dispatchEvent(new Event({event!r}, {{bubbles: true}})); return field.value; }})()"
    )


def submit_until_resumed(browser: Chromium, resumed: Callable[[], bool], attempts: int = 4) -> None:
    """Click Submit, then wait for the run to leave its suspension; click again, as a person would, when the UI
    reported an error instead (on a loaded machine the server's SQLite can be busy and the resume request fail)."""
    for _ in range(attempts):
        browser.evaluate(f"{button('Submit', '[role=dialog]')}?.click()")
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if resumed():
                return
            time.sleep(0.5)
    raise AssertionError(f"the run was not resumed after {attempts} submissions of the form")


def approve_in_browser(page_url: str, profile: Path, shots: Path, resumed: Callable[[], bool]) -> str:
    """Open the run's page, click Resume, choose approve, type the comment, submit; return the dialog's text.

    The filled form is kept as `approval-form.png` in `shots`, the page at a failure as `approval-failure.png`.
    """
    browser = Chromium(profile)
    try:
        opened = time.monotonic()
        browser.command("Page.navigate", url=page_url)
        browser.wait_for(button("Resume"), "the Resume button")
        browser.evaluate(f"{button('Resume')}.click()")
        browser.wait_for(f"{DIALOG} && {DIALOG}.querySelector('select')", "the resume form")
        # the description (the plan) is read separately from the form's schema and may render later
        browser.wait_for(f"{DESCRIPTION}?.innerText.trim()", "the plan above the form")
        text = str(browser.evaluate(f"{DIALOG}.innerText"))
        print(f"the form with the plan showed {time.monotonic() - opened:.1f} s after opening the page")
        assert browser.evaluate(set_field("select", "approve", "change")) == "approve"
        assert browser.evaluate(set_field("textarea", COMMENT, "input")) == COMMENT
        browser.screenshot(shots / "approval-form.png")
        started = time.monotonic()
        submit_until_resumed(browser, resumed)
        print(f"form submitted; the run left its suspension {time.monotonic() - started:.1f} s later")
        return text
    except BaseException:
        browser.screenshot(shots / "approval-failure.png")
        raise
    finally:
        browser.close()


@pytest.fixture(scope="module")
def approval_world(
    prefect_server: PrefectServer, e2e_home: Path
) -> Iterator[tuple[SandboxServer, PrefectRest]]:
    """A lemons sandbox in its own process, the lemons deployment on a pool of its own, one worker polling it."""
    with SandboxServer(seed="lemons", mode="subprocess") as sandbox:
        labelrounds_deploy(
            prefect_server,
            sandbox,
            POOL,
            PASSWORD,
            "--only",
            "lemons",
            "--credentials-block",
            "approval-sandbox",
            "--password-secret",
            "approval-password",
        )
        worker: ManagedProcess = prefect_server.start_worker(POOL, "approval-worker")
        rest = PrefectRest(prefect_server.api_url)
        try:
            yield sandbox, rest
        finally:
            rest.close()
            worker.stop()
            prefect_server.workers.remove(worker)


def test_a_plan_approved_in_the_prefect_ui_lets_the_round_create_its_jobs(
    prefect_server: PrefectServer, approval_world: tuple[SandboxServer, PrefectRest], tmp_path: Path
) -> None:
    sandbox, rest = approval_world
    deployment = rest.deployment("labeling-round", "lemons")
    defaults = deployment["parameters"]
    spec = {**defaults["spec"], "round_name": ROUND, "approve_plan": True, "poll_interval_seconds": 0.5}
    run = rest.run_from_form(deployment["id"], {**defaults, "spec": spec, "gate_mode": "suspend"})
    try:
        waiting = rest.wait_for(run["id"], {"PAUSED"}, timeout=300)
        assert waiting["state"]["type"] == "PAUSED", waiting["state"]
        assert waiting["state"]["state_details"]["run_input_keyset"], "the run waits for a form"
        round_key = round_key_of(ROUND, sandbox.project_id or 0)
        with RawApi.of(sandbox) as raw:  # nothing written before the approval
            assert raw.round_jobs(sandbox.team_id, round_key) == []
            logins = {user["login"] for user in raw.list_all("users.list", {})}
        assert not logins & {"labeler_1", "labeler_2", "reviewer_1"}

        page = f"{prefect_server.url}/runs/flow-run/{run['id']}"

        def resumed() -> bool:
            return str(rest.flow_run(run["id"])["state"]["type"]) != "PAUSED"

        shown = approve_in_browser(page, tmp_path / "chromium", tmp_path, resumed)
        assert f"Approve the plan of round {ROUND}" in shown and "6 images" in shown and "labeler_1" in shown

        answer = rest.request("GET", f"/flow_runs/{run['id']}/input/suspended-approve-plan-response")
        assert answer.json() == {"decision": "approve", "comment": COMMENT}  # what the browser sent
        # After the approval the run creates the jobs, then suspends at its gate (no worker held while labelers work).
        at_gate = rest.wait_for(run["id"], {"PAUSED"}, timeout=300)
        assert (
            at_gate["state"]["type"] == "PAUSED" and not at_gate["state"]["state_details"]["run_input_keyset"]
        )
        with RawApi.of(sandbox) as raw:
            selected = raw.image_ids_by_dataset(raw.dataset_ids(sandbox.project_id or 0))
            jobs = raw.round_jobs(sandbox.team_id, round_key)
        assert_each_image_once(selected, jobs)
    finally:
        rest.request(
            "POST", f"/flow_runs/{run['id']}/set_state", {"state": {"type": "CANCELLED"}, "force": True}
        )
