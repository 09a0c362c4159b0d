"""`publish_to_hub` sends a Hub token only to an allowed Hub, only from an allowed variable, and no
secret it holds reaches a log, an event or an error: the real job (Dagster, real instance on disk)
and the real `huggingface_hub` client against a loopback stand-in for a Hub (the only part mocked:
the Hub cannot be reached from tests) that echoes the Authorization header in every error."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import dagster as dg
import pytest
from aiohttp import web

from bmw_assets.defs import sharing
from bmw_assets.sharing.hub import HubRepo, HubUnavailableError, upload_folder
from bmw_assets_tests.integration.sharing_fake_hub import hub_online  # noqa: F401

HF_SECRET = "hub-token-echoed-not-real-7f3a"
LLM_SECRET = "llm-key-not-real-5b2c9e"
pytestmark = pytest.mark.usefixtures("hub_online")


class EchoingHub:
    """Answers every request 403 (or `whoami_status` for /api/whoami-v2) with the Authorization
    header it received in the error message, as a careless proxy might; `requests` lists them."""

    def __init__(self, whoami_status: int = 403):
        self.whoami_status, self.requests = whoami_status, []
        self._ready = threading.Event()
        self._thread = threading.Thread(target=asyncio.run, args=(self._main(),), daemon=True)

    async def _handle(self, request: web.Request) -> web.Response:
        auth = request.headers.get("Authorization", "")
        self.requests.append((request.path, auth))
        if request.path == "/api/whoami-v2" and self.whoami_status == 200:
            return web.json_response({"name": "tester", "type": "user"})
        status = self.whoami_status if request.path == "/api/whoami-v2" else 403
        return web.json_response({"error": f"not allowed with header {auth!r}"}, status=status)

    async def _main(self):
        runner = web.AppRunner(web.Application(handler_args=None, middlewares=[]), access_log=None)
        runner.app.router.add_route("*", "/{tail:.*}", self._handle)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        self.endpoint = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"
        self._stop = asyncio.Event()
        self._ready.set()
        await self._stop.wait()
        await runner.cleanup()

    def __enter__(self):
        self._thread.start()
        self._ready.wait(10)
        return self

    def __exit__(self, *exc):
        self._stop._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)


@pytest.fixture
def secrets(hub_online, monkeypatch):  # noqa: F811 (after hub_online, which sets its own HF_TOKEN)
    monkeypatch.setenv("HF_TOKEN", HF_SECRET)
    monkeypatch.setenv("OPENAI_API_KEY", LLM_SECRET)


def publish(instance: dg.DagsterInstance, run_config: dict) -> dg.ExecuteInProcessResult:
    return sharing.publish_to_hub.execute_in_process(
        run_config={"ops": {"upload_to_hub": {"config": run_config}}}, instance=instance, raise_on_error=False
    )


def error_text(result: dg.ExecuteInProcessResult) -> str:
    (failure,) = result.get_step_failure_events()
    return failure.event_specific_data.error.to_string()


def traces(instance: dg.DagsterInstance, result: dg.ExecuteInProcessResult, home: Path) -> str:
    """Everything the run left: the run and its config, every event, and every file of the instance
    (sqlite storages, compute logs)."""
    records = [dg.serialize_value(instance.get_run_by_id(result.run_id))]
    records += [dg.serialize_value(entry) for entry in instance.all_logs(result.run_id)]
    files = [p.read_bytes().decode("latin-1") for p in home.rglob("*") if p.is_file()]
    return "\n".join(records + files)


@pytest.mark.usefixtures("secrets")
@pytest.mark.parametrize(
    "config, refusal",
    [
        ({"token_env": "OPENAI_API_KEY"}, "token_env 'OPENAI_API_KEY' is not a Hub token variable"),
        ({"endpoint": "LOOPBACK"}, "is not an allowed Hub endpoint"),
    ],
    ids=["llm-key-as-token", "unlisted-endpoint"],
)
def test_a_token_goes_only_from_an_allowed_variable_to_an_allowed_hub(tmp_path, config, refusal):
    with EchoingHub(whoami_status=200) as hub, dg.instance_for_test(temp_dir=str(tmp_path)) as instance:
        config = {"dataset_repo_id": "tester/data", "endpoint": hub.endpoint, **config}
        if config["endpoint"] == "LOOPBACK":
            config["endpoint"] = hub.endpoint.replace("127.0.0.1", "localhost")
        result = publish(instance, config)
        assert not result.success and refusal in error_text(result)
        assert hub.requests == [], "a secret was sent before the target was checked"


@pytest.mark.usefixtures("secrets")
def test_a_hub_echoing_the_token_leaves_no_trace_of_any_secret(tmp_path, monkeypatch, capfd):
    (tmp_path / "home").mkdir()
    with EchoingHub(whoami_status=403) as hub, dg.instance_for_test(temp_dir=str(tmp_path / "home")) as instance:
        monkeypatch.setenv("BMW_HUB_ENDPOINT", hub.endpoint)  # the operator's explicit entry
        result = publish(instance, {"dataset_repo_id": "tester/data", "endpoint": hub.endpoint})
        assert hub.requests == [("/api/whoami-v2", f"Bearer {HF_SECRET}")]  # it did reach the Hub
        message = error_text(result)
        assert not result.success and "403" in message and "[redacted]" in message
        left = traces(instance, result, tmp_path / "home") + "".join(capfd.readouterr())
    assert HF_SECRET not in left and LLM_SECRET not in left


@pytest.mark.usefixtures("secrets")
def test_an_upload_refused_with_the_token_echoed_raises_a_redacted_error(tmp_path, monkeypatch):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "train.jsonl").write_text('{"text": "x"}\n')
    with EchoingHub(whoami_status=200) as hub:
        monkeypatch.setenv("BMW_HUB_ENDPOINT", hub.endpoint)
        with pytest.raises(HubUnavailableError) as refused:
            upload_folder(tmp_path / "data", HubRepo("tester/data", "dataset", endpoint=hub.endpoint))
    assert ("/api/repos/create", f"Bearer {HF_SECRET}") in hub.requests
    assert HF_SECRET not in str(refused.value) and "[redacted]" in str(refused.value)
    assert refused.value.__cause__ is None and refused.value.__suppress_context__
