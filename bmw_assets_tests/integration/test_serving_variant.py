"""A locally trained LoRA variant (one layer dropped) exported as a merged safetensors model whose
logits match adapter-on-base, then served by `python -m bmw_assets.serve` and answering a chat
completion through the real `openai` client on loopback."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import openai
import pytest

from bmw_assets.llm_filter.endpoint import is_healthy
from bmw_assets.models.loading import load_model
from bmw_assets.run_folders import EXPORT_RECORD_FILE as EXPORT_RECORD
from bmw_assets.sharing.export import (
    LOGIT_TOLERANCE,
    ExportMismatchError,
    export_variant,
    max_abs_difference,
    prompt_logits,
)
from bmw_assets_tests.conftest import free_port
from bmw_assets_tests.integration.sharing_tiny_run import VARIANT, one_torch_thread, tiny_storage  # noqa: F401

pytestmark = pytest.mark.slow

PROMPTS = ("Which plant builds the BMW iX?", "What did the BMW Group announce?")


@pytest.fixture(scope="module")
def storage(tmp_path_factory, base_model_dir):
    return tiny_storage(tmp_path_factory.getbasetemp() / "sharing-storage", base_model_dir)


def copy_of_run(storage, target: Path) -> dict:
    """The trained manifest pointing at a private copy of the run folder (adapter only, no export yet)."""
    shutil.copytree(storage.trained["output_dir"], target, ignore=shutil.ignore_patterns("merged", "runs"))
    return dict(storage.trained, output_dir=str(target))


def test_a_lora_variant_exports_as_a_merged_model_with_the_same_logits(storage):
    from transformers import AutoModelForCausalLM

    trained = storage.trained
    result = export_variant(trained, prompts=PROMPTS)  # done here, or found from an earlier test's export
    merged_dir = Path(trained["output_dir"]) / "merged"
    assert result.merged and result.model_dir == str(merged_dir) and result.max_abs_logit_diff <= LOGIT_TOLERANCE
    assert {"model.safetensors", "config.json", "tokenizer.json", "chat_template.jinja", EXPORT_RECORD} <= set(
        result.files
    )

    # The folder alone (plain transformers, no PEFT) reproduces adapter-on-base with the layer removed.
    unmerged, tokenizer = load_model(trained["base_model"], trained["output_dir"], trained["removed_layers"])
    merged = AutoModelForCausalLM.from_pretrained(merged_dir).eval()
    assert merged.config.num_hidden_layers == 29 == trained["layers"]
    reference = prompt_logits(unmerged, tokenizer, PROMPTS)
    assert max_abs_difference(reference, prompt_logits(merged, tokenizer, PROMPTS)) <= LOGIT_TOLERANCE
    # ...and the adapter matters, so agreeing within the tolerance says something.
    with unmerged.disable_adapter():
        assert max_abs_difference(reference, prompt_logits(unmerged, tokenizer, PROMPTS)) > 100 * LOGIT_TOLERANCE

    started = time.perf_counter()
    assert export_variant(trained, prompts=PROMPTS) == result  # recorded: no model is loaded again
    assert time.perf_counter() - started < 1


def test_a_merged_folder_without_the_adapter_is_refused(storage, tmp_path):
    trained = copy_of_run(storage, tmp_path / "run")
    # A run that claims to have merged, but merged/ holds the surgered base model without the adapter.
    base, tokenizer = load_model(trained["base_model"], None, trained["removed_layers"])
    base.save_pretrained(tmp_path / "run" / "merged")
    tokenizer.save_pretrained(tmp_path / "run" / "merged")
    trained["paths"] = dict(trained["paths"], merged="merged")
    with pytest.raises(ExportMismatchError, match="changed the logits by up to"):
        export_variant(trained, prompts=PROMPTS[:1])
    assert not (tmp_path / "run" / "merged" / EXPORT_RECORD).exists()


def test_a_trained_variant_answers_chat_completions_through_the_openai_client(storage):
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "bmw_assets.serve",
        VARIANT,
        "--port",
        str(port),
        "--storage",
        str(storage.layout.root),
    ]
    server = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                              env={**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"})  # fmt: skip
    lines = []
    try:
        deadline = time.monotonic() + 240
        while not any(line.startswith("model id: ") for line in lines):
            line = server.stdout.readline()
            assert line and time.monotonic() < deadline, (
                "serve exited or hung before printing the model id:\n" + "".join(lines)
            )
            lines.append(line)
        printed = dict(line.strip().split(": ", 1) for line in lines if line.startswith(("base URL: ", "model id: ")))
        base_url, model_id = printed["base URL"], printed["model id"]
        run_dir = Path(storage.trained["output_dir"])
        assert base_url == f"http://127.0.0.1:{port}/v1" and model_id == str(run_dir / "merged")
        assert json.loads((run_dir / "merged" / EXPORT_RECORD).read_text())["result"]["merged"] is True

        client = openai.OpenAI(base_url=base_url, api_key="not-needed", timeout=120)
        assert [model.id for model in client.models.list().data] == [model_id]
        reply = client.chat.completions.create(
            model=model_id, messages=[{"role": "user", "content": "Which plant builds the BMW iX?"}],
            max_tokens=8, temperature=0,
        )  # fmt: skip
        assert reply.choices[0].message.role == "assistant" and reply.choices[0].message.content.strip()
        assert 1 <= reply.usage.completion_tokens <= 8 and reply.model == model_id
        client.close()  # no keep-alive connection for the server to wait on when it stops
    finally:
        server.send_signal(signal.SIGINT)
        try:
            # Stopping takes a health check in flight (3 s) plus the server's SIGTERM grace (10 s).
            output, _ = server.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            server.kill()
            output, _ = server.communicate()
    assert server.returncode == 0, "".join(lines) + output
    assert "stopping the server" in output and not is_healthy(f"http://127.0.0.1:{port}")
