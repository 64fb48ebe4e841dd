"""Benchmark: suspended rounds resumed by webhooks (receiver → `labelrounds.round.ready` → automation) or the watcher.

Run: `python -m bench.webhook_resume --out bench/results/webhook_resume.json` (also writes a `.md` beside it).

Real parts: `prefect server start` (SQLite, own home; the tests' `PrefectServer`), the sandbox in a subprocess
with webhooks (fault plans `webhook:drop=1`, `webhook:dup=1`), the receiver app on 127.0.0.1 (uvicorn in a
thread of this process, emitting to the real server), the automation `labelrounds deploy --receiver-url` creates.
Each round is a paused run of the `labeling-round` flow carrying the tags and parameters the real gate leaves
(`labelrounds-round:`, `labelrounds-team:`, `labelrounds-gate-jobs:`, the round spec), Paused with
`pause_reschedule` as `suspend_flow_run` leaves it, created from a stand-in deployment (Prefect reschedules a
resumed suspended run only when it has one); its jobs are real sandbox jobs with the round's lineage, completed
through the API. No worker runs the resumed runs (the deployment has no pool): what is measured ends when the
run leaves Paused, which is all the webhook path does. The watcher passes run in this process.

Figures: (i) seconds from the last job's completion (the sandbox's `finishedAt`) to the run leaving Paused (its
next state's timestamp on the server), median over the rounds; (ii) the same with every delivery dropped and the
watcher flow run every `--watch-interval` seconds; (iii) with every delivery duplicated, the "Resuming" states
per run; (iv) `jobs.list` calls (sandbox request counter) per waiting round and day, webhooks + a fallback
watcher every hour against the watcher alone every 5 minutes.
"""

from __future__ import annotations

import argparse
import asyncio
import contextvars
import os
import statistics
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import httpx
from prefect.settings import PREFECT_API_URL, temporary_settings
from pydantic import SecretStr

from bench.output import write_figures
from deployments.automations import ensure_automation, resume_ready_rounds_automation
from deployments.definitions import lemons_round_spec
from deployments.receiver import WEBHOOK_PATH, create_receiver_app
from labelrounds.client import ConnectionSettings, SuperviselyClient
from labelrounds.job_notices import ConfirmedCompletion
from labelrounds.round_spec import TargetStatus
from labelrounds.sandbox.faults import FaultPlan
from labelrounds.sandbox.server import SandboxServer, bind_socket, socket_url, uvicorn_server
from labelrounds.webhook_setup import ensure_receiver_webhook
from tasks.gate import ROUND_TAG_PREFIX, TEAM_TAG_PREFIX
from tasks.round_events import CompletionAnnounced, announce_completion
from tasks.run_tags import gate_jobs_tag
from tasks.watch import ROUND_FLOW_NAME

API = "/public/api/v3/"
RETRY_DELAYS = (1.0, 2.0, 4.0, 8.0, 0.0)
ROUNDS = 10
JOBS_PER_ROUND = 2
WATCH_INTERVAL = 10.0
LONG_WATCH_INTERVAL = 3600
DEFAULT_WATCH_INTERVAL = 300
DAY = 86400


@dataclass
class PausedRound:
    """A round waiting on its jobs: its key, its gate's jobs, and its paused flow run."""

    round_key: str
    job_ids: list[int]
    flow_run_id: str


@dataclass
class Announcements:
    """Every completion the receiver announced, with the runs it found ready (recorded in the receiver's thread)."""

    calls: list[tuple[int, list[UUID]]] = field(default_factory=list)

    async def __call__(self, api: SuperviselyClient, completion: ConfirmedCompletion) -> CompletionAnnounced:
        """Announce as the receiver does, and record it."""
        announced = await announce_completion(api, completion)
        self.calls.append((completion.job_id, announced.ready_runs))
        return announced

    def of_job(self, job_id: int) -> int:
        """How many times the job's completion was announced."""
        return sum(1 for announced_job, _ in self.calls if announced_job == job_id)


def _retrying_busy(send: Callable[[], httpx.Response]) -> httpx.Response:
    """Send; a 503 (SQLite busy on a loaded machine) is sent again, as Prefect's own client does."""
    for delay in RETRY_DELAYS:
        reply = send()
        if reply.status_code != 503:
            break
        time.sleep(delay)
    return reply


class RoundWorld:
    """A sandbox admin's HTTP client and a Prefect server's REST API: makes jobs and paused round runs."""

    def __init__(self, sandbox: SandboxServer, api_url: str) -> None:
        self.sandbox = sandbox
        self.admin = httpx.Client(
            base_url=sandbox.url + API,
            headers={"x-api-key": sandbox.admin_token.get_secret_value()},
            timeout=30,
        )
        self.prefect = httpx.Client(base_url=api_url, timeout=30)
        self.spec = lemons_round_spec().model_copy(update={"target_status": TargetStatus.COMPLETED})
        self._image_id: int | None = None
        self._deployment_id: str | None = None

    def close(self) -> None:
        """Close both clients."""
        self.admin.close()
        self.prefect.close()

    def settings(self) -> ConnectionSettings:
        """The sandbox admin's connection."""
        return ConnectionSettings(server_address=self.sandbox.url, api_token=self.sandbox.admin_token)

    def _post(self, client: httpx.Client, path: str, body: dict[str, Any]) -> Any:
        reply = _retrying_busy(lambda: client.post(path, json=body))
        assert reply.status_code < 300, f"{path}: {reply.status_code} {reply.text[:300]}"
        return reply.json()

    def new_job(self, round_key: str, name: str) -> int:
        """A one-image job of the admin with the round's lineage (first cycle)."""
        if self._image_id is None:
            listed = self._post(self.admin, "images.list", {"datasetId": self.sandbox.dataset_id})
            self._image_id = int(listed["entities"][0]["id"])
        lineage = {
            "round": round_key,
            "dataset": self.sandbox.dataset_id,
            "labeler": self.sandbox.admin_login,
            "share": name,
            "cycle": 0,
        }
        body = {
            "name": name,
            "datasetId": self.sandbox.dataset_id,
            "userIds": [self.sandbox.admin_id],
            "reviewerId": self.sandbox.admin_id,
            "meta": {"classes": ["lemon"], "entityIds": [self._image_id]},
            "customData": {"labelrounds": lineage},
        }
        return int(self._post(self.admin, "jobs.add", body)[0]["id"])

    def complete(self, job_id: int) -> None:
        """Move a job to `completed` (a webhook event in the sandbox)."""
        self._post(self.admin, "jobs.set-status", {"id": job_id, "status": "completed"})

    def finished_at(self, job_id: int) -> datetime:
        """The job's completion time as the sandbox recorded it."""
        job = self._post(self.admin, "jobs.info", {"id": job_id})
        return datetime.fromisoformat(job["finishedAt"].replace("Z", "+00:00"))

    def pause_round(self, name: str, jobs: int = JOBS_PER_ROUND) -> PausedRound:
        """Jobs of a new round and a `labeling-round` run paused on them, as the suspend gate leaves it."""
        if self._deployment_id is None:  # Prefect reschedules a resumed suspended run only from a deployment
            flow_id = self._post(self.prefect, "/flows/", {"name": ROUND_FLOW_NAME})["id"]
            deployment = {"name": "webhook-resume-stand-in", "flow_id": flow_id, "paused": True}
            self._deployment_id = str(self._post(self.prefect, "/deployments/", deployment)["id"])
        round_key = f"{name}-{uuid4().hex[:6]}@{self.sandbox.project_id}"
        job_ids = [self.new_job(round_key, f"{name}-{index}") for index in range(jobs)]
        tags = [
            ROUND_TAG_PREFIX + round_key,
            TEAM_TAG_PREFIX + str(self.sandbox.team_id),
            gate_jobs_tag(job_ids),
        ]
        body = {"name": name, "parameters": {"spec": self.spec.model_dump(mode="json")}, "tags": tags}
        run = self._post(self.prefect, f"/deployments/{self._deployment_id}/create_flow_run", body)
        paused = {
            "type": "PAUSED",
            "name": "Suspended",
            "state_details": {"pause_reschedule": True, "pause_key": f"gate-cycle-0-{uuid4().hex}"},
        }
        self._post(self.prefect, f"/flow_runs/{run['id']}/set_state", {"state": paused, "force": True})
        return PausedRound(round_key, job_ids, str(run["id"]))

    def states(self, flow_run_id: str) -> list[dict[str, Any]]:
        """The run's state history, oldest first."""
        reply = _retrying_busy(
            lambda: self.prefect.get("/flow_run_states/", params={"flow_run_id": flow_run_id})
        )
        reply.raise_for_status()
        return sorted(reply.json(), key=lambda state: state["timestamp"])

    def state_type(self, flow_run_id: str) -> str:
        """The run's current state type."""
        return str(
            self._post(self.prefect, "/flow_runs/filter", {"flow_runs": {"id": {"any_": [flow_run_id]}}})[0][
                "state_type"
            ]
        )

    def wait_until_not_paused(self, flow_run_id: str, timeout: float) -> None:
        """Poll until the run is no longer Paused; fail after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while self.state_type(flow_run_id) == "PAUSED":
            assert time.monotonic() < deadline, f"run {flow_run_id} still paused after {timeout:g} s"
            time.sleep(0.1)

    def jobs_list_calls(self) -> int:
        """`jobs.list` requests the sandbox answered so far (its crew's excluded)."""
        return self.sandbox.traffic_stats().requests.get("jobs.list", 0)


def resumes(states: list[dict[str, Any]]) -> int:
    """How many times a run was resumed: its states named "Resuming" (the oracle of "resumed once")."""
    return sum(1 for state in states if state["name"] == "Resuming")


def left_paused_at(states: list[dict[str, Any]]) -> datetime:
    """When the run left its (first) Paused state: the timestamp of the state after it."""
    index = next(i for i, state in enumerate(states) if state["type"] == "PAUSED")
    return datetime.fromisoformat(states[index + 1]["timestamp"].replace("Z", "+00:00"))


@contextmanager
def receiver_in_thread(
    secret: SecretStr, settings: ConnectionSettings, announce: Announcements
) -> Iterator[str]:
    """The receiver app served on a free loopback port in a thread (with this context's Prefect settings)."""
    sock = bind_socket("127.0.0.1", 0)
    server = uvicorn_server(create_receiver_app(secret, settings, announce), configure_logging=False)
    context = contextvars.copy_context()
    thread = threading.Thread(target=context.run, args=(server.run,), kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the receiver did not start"
        time.sleep(0.05)
    try:
        yield socket_url(sock) + WEBHOOK_PATH
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        sock.close()


async def register(world: RoundWorld, url: str, secret: SecretStr) -> None:
    """The receiver's webhook on the sandbox (no retry delay) and the resume automation on the server."""
    async with SuperviselyClient(world.settings()) as api:
        registered = await ensure_receiver_webhook(api, world.sandbox.team_id, url, secret)
        await api.update_webhook(registered.webhook_id, retries_delay=0)
    await ensure_automation(resume_ready_rounds_automation())


def run_watcher(settings: ConnectionSettings) -> None:
    """One pass of the watcher flow, in this process, against the configured server."""
    from flows.watch_suspended_rounds import watch_suspended_rounds

    os.environ["SERVER_ADDRESS"], os.environ["API_TOKEN"] = (
        settings.server_address,
        settings.api_token.get_secret_value(),
    )
    asyncio.run(watch_suspended_rounds())


def resume_seconds(world: RoundWorld, rounds: list[PausedRound]) -> list[float]:
    """Seconds from each round's last job completion to its run leaving Paused."""
    return [
        (
            left_paused_at(world.states(r.flow_run_id)) - max(world.finished_at(j) for j in r.job_ids)
        ).total_seconds()
        for r in rounds
    ]


def complete_each(world: RoundWorld, paused: list[PausedRound], wait: Callable[[PausedRound], None]) -> int:
    """Complete the rounds' jobs one round at a time, `wait` for each round; return the jobs.list calls meanwhile."""
    before = world.jobs_list_calls()
    for paused_round in paused:
        for job_id in paused_round.job_ids:
            world.complete(job_id)
        wait(paused_round)
    return world.jobs_list_calls() - before


def summary(seconds: list[float]) -> dict[str, float]:
    """Median and max, rounded."""
    return {"median_s": round(statistics.median(seconds), 2), "max_s": round(max(seconds), 2)}


def measure(api_url: str, rounds: int, watch_interval: float) -> dict[str, Any]:
    """The three scenarios, each on its own sandbox (delivered, dropped, duplicated)."""
    secret = SecretStr(uuid4().hex)
    figures: dict[str, Any] = {
        "rounds": rounds,
        "jobs_per_round": JOBS_PER_ROUND,
        "load_before": os.getloadavg(),
    }
    with temporary_settings({PREFECT_API_URL: api_url}):
        for kind, plan in (
            ("delivered", None),
            ("dropped", "webhook:drop=1"),
            ("duplicated", "webhook:dup=1"),
        ):
            faults = FaultPlan.parse(plan) if plan else None
            with SandboxServer(seed="lemons", mode="subprocess", faults=faults) as sandbox:
                world = RoundWorld(sandbox, api_url)
                announce = Announcements()
                try:
                    with receiver_in_thread(secret, world.settings(), announce) as url:
                        asyncio.run(register(world, url, secret))
                        figures[kind] = run_scenario(world, kind, rounds, watch_interval, announce)
                finally:
                    world.close()
    figures["load_after"] = os.getloadavg()
    figures["jobs_list_per_day"] = per_day(figures)
    return figures


def run_scenario(
    world: RoundWorld, kind: str, rounds: int, watch_interval: float, announce: Announcements
) -> dict[str, Any]:
    """One scenario's figures."""
    paused = [world.pause_round(f"{kind}-{index}") for index in range(rounds)]
    if kind == "dropped":
        before = world.jobs_list_calls()
        run_watcher(
            world.settings()
        )  # a pass over rounds that all wait: its jobs.list calls per waiting round
        idle_pass_lists = world.jobs_list_calls() - before
        last_pass = time.monotonic()
        pass_seconds: list[float] = []
        passes_to_resume: list[int] = []

        def watch(paused_round: PausedRound) -> None:
            nonlocal last_pass
            passes = 0
            while world.state_type(paused_round.flow_run_id) == "PAUSED":
                if time.monotonic() - last_pass >= watch_interval:
                    last_pass = time.monotonic()
                    run_watcher(world.settings())
                    pass_seconds.append(time.monotonic() - last_pass)
                    passes += 1
                time.sleep(0.1)
            passes_to_resume.append(passes)

        complete_each(world, paused, watch)
        seconds = resume_seconds(world, paused)
        return {
            "resume": summary(seconds),
            "seconds": [round(s, 2) for s in seconds],
            "watch_interval_s": watch_interval,
            "watcher_pass_s": summary(pass_seconds),
            "passes_after_completion_to_resume": passes_to_resume,
            "receiver_announcements": len(announce.calls),
            "watcher_pass_jobs_list_per_round": idle_pass_lists / rounds,
        }

    lists = complete_each(world, paused, lambda r: world.wait_until_not_paused(r.flow_run_id, timeout=60))
    if kind == "duplicated":  # every duplicate announced before counting the resumes
        deadline = time.monotonic() + 60
        while any(announce.of_job(job) < 2 for r in paused for job in r.job_ids):
            assert time.monotonic() < deadline, "duplicates not all delivered"
            time.sleep(0.1)
    seconds = resume_seconds(world, paused)
    return {
        "resume": summary(seconds),
        "seconds": [round(s, 2) for s in seconds],
        "resumes_per_run": [resumes(world.states(r.flow_run_id)) for r in paused],
        "receiver_announcements": len(announce.calls),
        "jobs_list_calls": lists,
        "jobs_list_per_round": lists / rounds,
    }


def per_day(figures: dict[str, Any]) -> dict[str, Any]:
    """jobs.list per waiting round and day: watcher alone every 5 min vs webhooks + watcher every hour."""
    per_pass = figures["dropped"]["watcher_pass_jobs_list_per_round"]
    watcher_alone = DAY / DEFAULT_WATCH_INTERVAL * per_pass
    with_webhooks = DAY / LONG_WATCH_INTERVAL * per_pass + figures["delivered"]["jobs_list_per_round"]
    return {
        "watcher_alone_5min": watcher_alone,
        "webhooks_plus_hourly_watcher": with_webhooks,
        "reduction_percent": round(100 * (1 - with_webhooks / watcher_alone), 1),
    }


def to_markdown(figures: dict[str, Any]) -> str:
    """The figures as a short Markdown page."""
    d, x, u, day = (
        figures["delivered"],
        figures["dropped"],
        figures["duplicated"],
        figures["jobs_list_per_day"],
    )
    return (
        "# Suspended rounds resumed by webhooks\n\n"
        f"{figures['rounds']} rounds of {figures['jobs_per_round']} jobs each; real `prefect server start`, sandbox "
        "subprocess with webhooks, receiver on 127.0.0.1, the resume automation. Load average before/after: "
        f"{[round(v, 1) for v in figures['load_before']]} / {[round(v, 1) for v in figures['load_after']]}.\n\n"
        "| scenario | last job completed → run leaves Paused (median / max) | resumes per run |\n|---|---|---|\n"
        f"| deliveries | {d['resume']['median_s']} s / {d['resume']['max_s']} s | "
        f"{sorted(set(d['resumes_per_run']))} |\n"
        f"| every delivery dropped, watcher every {x['watch_interval_s']:g} s | {x['resume']['median_s']} s / "
        f"{x['resume']['max_s']} s | — (resumed by pass no. {sorted(set(x['passes_after_completion_to_resume']))} "
        f"after the completion; a pass takes {x['watcher_pass_s']['median_s']} s median, "
        f"{x['watcher_pass_s']['max_s']} s max) |\n"
        f"| every delivery duplicated | {u['resume']['median_s']} s / {u['resume']['max_s']} s | "
        f"{sorted(set(u['resumes_per_run']))} |\n\n"
        f"`jobs.list` per waiting round and day: the watcher alone every 5 min lists once per pass "
        f"({day['watcher_alone_5min']:g}); webhooks check the gate once per completion that finds the run paused "
        f"({d['jobs_list_per_round']:g} measured per round) plus a fallback watcher every hour (24): "
        f"{day['webhooks_plus_hourly_watcher']:g}, {day['reduction_percent']}% fewer.\n"
    )


def main() -> None:
    """Start a Prefect server, run the scenarios, write the figures."""
    from tests.e2e.processes import PrefectServer

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=Path("bench/results/webhook_resume.json"))
    parser.add_argument("--rounds", type=int, default=ROUNDS)
    parser.add_argument("--watch-interval", type=float, default=WATCH_INTERVAL)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as home:
        server = PrefectServer(home=Path(home), database_url=f"sqlite+aiosqlite:///{home}/prefect.db")
        try:
            server.start()
            figures = measure(server.api_url, args.rounds, args.watch_interval)
        finally:
            server.stop()
    write_figures(args.out, figures, to_markdown(figures))


if __name__ == "__main__":
    main()
