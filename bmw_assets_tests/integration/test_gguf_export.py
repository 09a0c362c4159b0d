"""GGUF export of a merged model: the packaged SmolLM2 cut to its first two decoder layers (a real llama
model and tokenizer, small enough to write and load back in seconds), written with GGUFWriter, loaded
back with transformers' `gguf_file` loader and compared with the safetensors folder; and a tiny random
qwen3 model for the other supported architecture."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from bmw_assets.sharing.gguf_export import (
    GGUF_LOGIT_TOLERANCE,
    GgufExportError,
    GgufMismatchError,
    export_gguf,
    verify_gguf,
    write_verified_gguf,
)
from bmw_assets_tests.integration.sharing_tiny_run import one_torch_thread  # noqa: F401

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("one_torch_thread")]

PROMPTS = ("Which plant builds the BMW iX? Deliveries rose 12.5% in 2024, déjà vu.",)


@pytest.fixture(scope="module")
def two_layer_model(tmp_path_factory, base_model_dir) -> Path:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from bmw_assets.models.surgery import remove_layers

    folder = tmp_path_factory.mktemp("smollm2-2-layers")
    model = AutoModelForCausalLM.from_pretrained(base_model_dir, dtype=torch.float32)
    remove_layers(model, list(range(2, model.config.num_hidden_layers)))
    model.save_pretrained(folder)
    AutoTokenizer.from_pretrained(base_model_dir).save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def f32_file(two_layer_model, tmp_path_factory) -> Path:
    return Path(export_gguf(two_layer_model, tmp_path_factory.mktemp("gguf") / "model-f32.gguf", "f32").path)


def test_f32_file_loads_back_with_the_same_logits_and_tokenizer(two_layer_model, f32_file):
    from transformers import AutoTokenizer

    check = verify_gguf(two_layer_model, f32_file, PROMPTS)
    assert check.max_abs_logit_diff < 1e-4 and check.prompt_tokens > 20
    original = AutoTokenizer.from_pretrained(two_layer_model)
    rebuilt = AutoTokenizer.from_pretrained(f32_file.parent, gguf_file=f32_file.name)
    sentence = "BMW's Neue Klasse: 800 km of range, built in Debrecen (Hungary)."
    assert rebuilt(sentence)["input_ids"] == original(sentence)["input_ids"]
    assert rebuilt.decode(rebuilt(sentence)["input_ids"]) == sentence
    chat = [{"role": "user", "content": "Hello?"}]
    assert rebuilt.apply_chat_template(chat, tokenize=False) == original.apply_chat_template(chat, tokenize=False)
    assert (rebuilt.eos_token, rebuilt.bos_token, len(rebuilt)) == (
        original.eos_token,
        original.bos_token,
        len(original),
    )


def test_tensors_are_laid_out_as_llama_cpp_writes_them(f32_file):
    """The packaged GGUF was written by llama.cpp's converter, and the base model's layers 0 and 1 are its
    dequantized tensors: ours must be the same numbers in the same layout (q and k permuted for rope)."""
    from gguf import GGUFReader, dequantize

    from bmw_assets.models.base_model import packaged_gguf_path

    ours = {t.name: t for t in GGUFReader(str(f32_file)).tensors}
    reference = {t.name: t for t in GGUFReader(str(packaged_gguf_path())).tensors}
    assert "output.weight" not in ours  # tied to token_embd, as in the reference
    assert len(ours) == 2 + 2 * 9  # token_embd, output_norm, 9 tensors per block
    for name in ("blk.0.attn_q.weight", "blk.1.attn_k.weight", "blk.0.attn_v.weight", "token_embd.weight"):
        expected = dequantize(reference[name].data, reference[name].tensor_type)
        assert ours[name].tensor_type.name == "F32"
        np.testing.assert_array_equal(np.asarray(ours[name].data), expected.reshape(ours[name].data.shape))


def test_half_precision_files_are_verified_and_recorded_once(two_layer_model):
    for dtype in ("f16", "bf16"):
        record = write_verified_gguf(two_layer_model, f"small-{dtype}.gguf", dtype, PROMPTS)
        target = two_layer_model / f"small-{dtype}.gguf"
        assert record["export"]["size_bytes"] == target.stat().st_size and record["export"]["dtype"] == dtype
        assert 0 < record["check"]["max_abs_logit_diff"] <= GGUF_LOGIT_TOLERANCE[dtype]
        assert (two_layer_model / f"small-{dtype}.gguf.json").is_file()
    # Half the bytes of F32 for the matrices; the norms stay F32.
    f16 = two_layer_model / "small-f16.gguf"
    assert f16.stat().st_size < 0.55 * sum(p.stat().st_size for p in two_layer_model.glob("*.safetensors"))
    written = f16.stat().st_mtime_ns
    assert write_verified_gguf(two_layer_model, f16.name, "f16", PROMPTS)["export"]["path"] == str(f16)
    assert f16.stat().st_mtime_ns == written  # the record matched: nothing rewritten
    with open(f16, "r+b") as handle:  # a changed file is written and verified again
        handle.seek(-4, 2)
        handle.write(b"\0\0\0\1")
    write_verified_gguf(two_layer_model, f16.name, "f16", PROMPTS)
    assert f16.stat().st_mtime_ns != written


def test_a_file_that_does_not_reproduce_the_model_is_removed(two_layer_model, monkeypatch):
    from bmw_assets.sharing import gguf_export

    monkeypatch.setitem(gguf_export.GGUF_LOGIT_TOLERANCE, "bf16", 1e-6)  # bf16 rounding alone exceeds this
    with pytest.raises(GgufMismatchError, match="tolerance 1e-06"):
        write_verified_gguf(two_layer_model, "strict-bf16.gguf", "bf16", PROMPTS)
    assert not (two_layer_model / "strict-bf16.gguf").exists()
    assert not (two_layer_model / "strict-bf16.gguf.json").exists()


def test_qwen3_round_trips(tmp_path, base_model_dir):
    from transformers import AutoModelForCausalLM, AutoTokenizer, Qwen3Config

    torch.manual_seed(0)
    # head_dim 128 as Qwen3-8B: transformers' GGUF loader assumes it for qwen3. An untied LM head.
    config = Qwen3Config(vocab_size=49152, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                         num_attention_heads=2, num_key_value_heads=1, head_dim=128, tie_word_embeddings=False)  # fmt: skip
    AutoModelForCausalLM.from_config(config).save_pretrained(tmp_path)
    AutoTokenizer.from_pretrained(base_model_dir).save_pretrained(tmp_path)
    exported = export_gguf(tmp_path, tmp_path / "qwen3.gguf", "f32")
    assert exported.architecture == "qwen3" and exported.tensors == 3 + 2 * 11  # output.weight and q/k norms
    check = verify_gguf(tmp_path, exported.path, PROMPTS)
    assert check.max_abs_logit_diff < 1e-4 and check.tokenizer_same_ids


def test_unsupported_architecture_and_dtype_are_refused(tmp_path):
    from transformers import GPT2Config

    GPT2Config(n_layer=1, n_embd=8, n_head=2).save_pretrained(tmp_path)
    with pytest.raises(
        GgufExportError, match="model_type 'gpt2' has no GGUF export; supported: \\['llama', 'qwen3'\\]"
    ):
        export_gguf(tmp_path, tmp_path / "x.gguf", "f16")
    with pytest.raises(GgufExportError, match="GGUF dtype 'q4_0'; use one of f32, f16, bf16"):
        export_gguf(tmp_path, tmp_path / "x.gguf", "q4_0")
    assert not list(tmp_path.glob("*.gguf")) and not list(tmp_path.glob(".x.gguf-*"))
