"""A merged model folder (safetensors + tokenizer) as one GGUF file, llama.cpp's format, for laptops.

Written with the `gguf` package's `GGUFWriter` in F32, F16 or BF16 (no quantization: llama.cpp's
`llama-quantize` makes smaller files from this one). Supported architectures are llama (SmolLM2)
and qwen3 (Qwen3-8B), with a byte-level BPE tokenizer. The tensors and metadata follow llama.cpp's
`convert_hf_to_gguf.py`, which transformers' `gguf_file` loader reads back:

- tensor names from gguf's own name map (`blk.N.attn_q.weight`, `token_embd.weight`, ...);
- llama's q and k projections permuted the way llama.cpp's rotary kernel wants them
  (transformers' loader undoes it); qwen3 is written as is;
- 1-D tensors (norms) always in F32, as llama.cpp keeps them;
- `output.weight` only when the LM head is not tied to the embeddings;
- the tokenizer as `tokenizer.ggml.*` keys (vocabulary, types, merges, special ids) and the chat
  template, so the file alone rebuilds the tokenizer.

`verify_gguf` loads the file back with transformers and compares next-token logits and token ids
with the safetensors folder; `write_verified_gguf` does both for the `exported_model` asset and keeps
a record beside the file, so a second call loads no model. transformers' loader reads no head size
for qwen3 and assumes 128 (Qwen3-8B's): a qwen3 model with another head size is written right for
llama.cpp but cannot be verified with transformers.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

from bmw_assets.atomic import write_json_atomic
from bmw_assets.hashing import sha256_file

GgufDtype = Literal["f32", "f16", "bf16"]
GGUF_DTYPES: tuple[str, ...] = ("f32", "f16", "bf16")
# tokenizer.ggml.pre names llama.cpp knows, by the pre-tokenizer of the tokenizer.json they belong to.
_QWEN2_SPLIT = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)
_LLAMA3_SPLIT = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}"
    r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)
# llama.cpp's token types (gguf.TokenType): the loader adds CONTROL tokens as special tokens.
_NORMAL, _CONTROL, _USER_DEFINED, _UNUSED = 1, 3, 4, 5


class GgufExportError(ValueError):
    """The model folder cannot be written as GGUF: an architecture, rope or tokenizer it does not cover."""


@dataclass(frozen=True)
class GgufExport:
    """One written GGUF file: its path, size (bytes), sha256, tensor dtype and count, and the seconds it took."""

    path: str
    size_bytes: int
    sha256: str
    dtype: str
    architecture: str
    tensors: int
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# Largest |logit difference| accepted against the safetensors model, by dtype. Measured on SmolLM2-135M
# (126 prompt positions): f32 0.0, f16 0.041, bf16 0.28; a wrong q/k layout moves logits by whole units.
GGUF_LOGIT_TOLERANCE = {"f32": 1e-3, "f16": 0.2, "bf16": 1.0}
# The GGUF `exported_model` writes when its run config says "profile": cheap on the local profile's 135M
# model (~5 s to write, ~40 s to verify on 2 cores); an 8B model's 16 GB file is asked for by run config.
GGUF_BY_PROFILE: dict[str, str] = {"local": "f16"}


class GgufMismatchError(RuntimeError):
    """The GGUF file, loaded back, does not reproduce the safetensors model's logits or tokens."""


def export_gguf(
    model_dir: Path | str, target: Path | str, dtype: GgufDtype = "f16", name: str | None = None
) -> GgufExport:
    """Write the model folder `model_dir` (config.json, *.safetensors, tokenizer) as the GGUF file `target`
    (under a temp name, renamed into place). Raises GgufExportError for what the format or this writer
    does not cover, naming it."""
    import gguf
    from transformers import AutoConfig, AutoTokenizer

    if dtype not in GGUF_DTYPES:
        raise GgufExportError(f"GGUF dtype {dtype!r}; use one of {', '.join(GGUF_DTYPES)}")
    started = time.perf_counter()
    model_dir, target = Path(model_dir), Path(target)
    config = AutoConfig.from_pretrained(model_dir, trust_remote_code=False)
    arch = _architecture(config)
    tokenizer = AutoTokenizer.from_pretrained(model_dir, trust_remote_code=False)

    target.parent.mkdir(parents=True, exist_ok=True)
    handle, staging = tempfile.mkstemp(prefix=f".{target.name}-", dir=target.parent)
    os.close(handle)
    try:
        writer = gguf.GGUFWriter(staging, gguf.MODEL_ARCH_NAMES[arch])
        _write_model_metadata(writer, config, arch, dtype, name or model_dir.name)
        _write_tokenizer(writer, tokenizer, int(config.vocab_size))
        count = _write_tensors(writer, model_dir, config, arch, dtype)
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
        writer.close()
        os.replace(staging, target)
    finally:
        Path(staging).unlink(missing_ok=True)
    return GgufExport(
        path=str(target),
        size_bytes=target.stat().st_size,
        sha256=sha256_file(target),
        dtype=dtype,
        architecture=config.model_type,
        tensors=count,
        seconds=round(time.perf_counter() - started, 2),
    )


def _architecture(config: Any) -> Any:
    import gguf

    supported = {"llama": gguf.MODEL_ARCH.LLAMA, "qwen3": gguf.MODEL_ARCH.QWEN3}
    if config.model_type not in supported:
        raise GgufExportError(f"model_type {config.model_type!r} has no GGUF export; supported: {sorted(supported)}")
    rope = getattr(config, "rope_parameters", None) or {}
    if rope.get("rope_type", "default") != "default":
        raise GgufExportError(f"rope_type {rope['rope_type']!r}: only the default rope is written to GGUF here")
    return supported[config.model_type]


def _head_dim(config: Any) -> int:
    return int(getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads)


def _write_model_metadata(writer: Any, config: Any, arch: Any, dtype: GgufDtype, name: str) -> None:
    import gguf

    rope = getattr(config, "rope_parameters", None) or {}
    writer.add_type("model")
    writer.add_name(name)
    writer.add_context_length(int(config.max_position_embeddings))
    writer.add_embedding_length(int(config.hidden_size))
    writer.add_block_count(int(config.num_hidden_layers))
    writer.add_feed_forward_length(int(config.intermediate_size))
    writer.add_head_count(int(config.num_attention_heads))
    writer.add_head_count_kv(int(config.num_key_value_heads))
    writer.add_rope_freq_base(float(rope.get("rope_theta", getattr(config, "rope_theta", 10000.0))))
    writer.add_layer_norm_rms_eps(float(config.rms_norm_eps))
    writer.add_vocab_size(int(config.vocab_size))
    if arch == gguf.MODEL_ARCH.LLAMA:
        writer.add_rope_dimension_count(_head_dim(config))
    else:  # qwen3's head_dim need not be hidden_size / heads (Qwen3-0.6B: 128 vs 64)
        writer.add_key_length(_head_dim(config))
        writer.add_value_length(_head_dim(config))
    file_types = {"f32": gguf.LlamaFileType.ALL_F32, "f16": gguf.LlamaFileType.MOSTLY_F16,
                  "bf16": gguf.LlamaFileType.MOSTLY_BF16}  # fmt: skip
    writer.add_file_type(file_types[dtype])


def _pre_tokenizer_name(backend: dict[str, Any]) -> str:
    """llama.cpp's `tokenizer.ggml.pre` for a tokenizer.json: which split rule the merges were learned with."""
    pre = backend.get("pre_tokenizer") or {}
    steps = pre.get("pretokenizers", [pre]) if pre.get("type") == "Sequence" else [pre]
    kinds = [step.get("type") for step in steps]
    splits = [step.get("pattern", {}).get("Regex") for step in steps if step.get("type") == "Split"]
    if splits == [_QWEN2_SPLIT]:
        return "qwen2"
    if splits == [_LLAMA3_SPLIT]:
        return "llama-bpe"
    if kinds == ["Digits", "ByteLevel"] and steps[0].get("individual_digits"):
        return "smollm"
    if kinds == ["ByteLevel"]:
        return "gpt-2"
    raise GgufExportError(f"no llama.cpp pre-tokenizer matches this tokenizer's pre_tokenizer {pre}")


def _write_tokenizer(writer: Any, tokenizer: Any, vocab_size: int) -> None:
    """The byte-level BPE tokenizer as tokenizer.ggml.* keys, padded to the embedding's `vocab_size` rows."""
    backend = json.loads(tokenizer.backend_tokenizer.to_str())
    model = backend["model"]
    byte_level = "ByteLevel" in json.dumps(backend.get("decoder"))
    if model.get("type") != "BPE" or not byte_level:
        raise GgufExportError(f"tokenizer model {model.get('type')!r}: only byte-level BPE tokenizers are written")
    tokens: dict[int, str] = {index: token for token, index in model["vocab"].items()}
    types: dict[int, int] = dict.fromkeys(tokens, _NORMAL)
    for added in backend.get("added_tokens", []):
        tokens[added["id"]] = added["content"]
        types[added["id"]] = _CONTROL if added["special"] else _USER_DEFINED
    if max(tokens) >= vocab_size:
        raise GgufExportError(f"token id {max(tokens)} does not fit the model's {vocab_size} embedding rows")
    # Rows of the embedding no token uses (a vocabulary padded to a multiple of 64), as llama.cpp names them.
    names = [tokens.get(index, f"[PAD{index}]") for index in range(vocab_size)]
    kinds = [types.get(index, _UNUSED) for index in range(vocab_size)]
    merges = [merge if isinstance(merge, str) else " ".join(merge) for merge in model.get("merges", [])]

    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre(_pre_tokenizer_name(backend))
    writer.add_token_list(names)
    writer.add_token_types(kinds)
    writer.add_token_merges(merges)
    special = {"bos": tokenizer.bos_token_id, "eos": tokenizer.eos_token_id, "unk": tokenizer.unk_token_id,
               "pad": tokenizer.pad_token_id}  # fmt: skip
    for role, token_id in special.items():
        if token_id is not None:
            getattr(writer, f"add_{role}_token_id")(int(token_id))
    encoded = tokenizer("a")["input_ids"]
    writer.add_add_bos_token(tokenizer.bos_token_id is not None and encoded[:1] == [tokenizer.bos_token_id])
    writer.add_add_eos_token(tokenizer.eos_token_id is not None and encoded[-1:] == [tokenizer.eos_token_id])
    writer.add_add_space_prefix(False)
    if isinstance(tokenizer.chat_template, str):
        writer.add_chat_template(tokenizer.chat_template)


def _permute_for_llama_rope(weights: Any, heads: int) -> Any:
    """llama.cpp's `LlamaModel.permute`: from transformers' rotate-half layout of a q/k projection's rows
    to the interleaved pairs llama.cpp's rotary kernel expects."""
    rows = weights.shape[0]
    return weights.reshape(heads, 2, rows // heads // 2, *weights.shape[1:]).swapaxes(1, 2).reshape(weights.shape)


def _write_tensors(writer: Any, model_dir: Path, config: Any, arch: Any, dtype: GgufDtype) -> int:
    """Add every weight of the folder's safetensors files to `writer`, renamed and converted; the count."""
    import gguf
    import torch
    from safetensors import safe_open

    name_map = gguf.get_tensor_name_map(arch, int(config.num_hidden_layers))
    tied = bool(getattr(config, "tie_word_embeddings", False))
    files = sorted(model_dir.glob("*.safetensors"))
    if not files:
        raise GgufExportError(f"{model_dir} holds no *.safetensors")
    count = 0
    for path in files:
        with safe_open(str(path), framework="pt") as weights:
            for hf_name in weights.keys():  # noqa: SIM118 (safe_open is no dict: it has no __iter__)
                if tied and hf_name == "lm_head.weight":
                    continue  # the loader ties it back to token_embd
                stem, _, suffix = hf_name.rpartition(".")
                gguf_name = name_map.get_name(stem)
                if gguf_name is None:
                    raise GgufExportError(f"{path.name}: tensor {hf_name!r} has no GGUF name for {config.model_type}")
                tensor = weights.get_tensor(hf_name).to(torch.float32)
                if arch == gguf.MODEL_ARCH.LLAMA and stem.endswith("self_attn.q_proj"):
                    tensor = _permute_for_llama_rope(tensor, int(config.num_attention_heads))
                elif arch == gguf.MODEL_ARCH.LLAMA and stem.endswith("self_attn.k_proj"):
                    tensor = _permute_for_llama_rope(tensor, int(config.num_key_value_heads))
                _add_tensor(writer, f"{gguf_name}.{suffix}", tensor, dtype)
                count += 1
    return count


def _add_tensor(writer: Any, name: str, tensor: Any, dtype: GgufDtype) -> None:
    import gguf
    import torch

    if tensor.ndim <= 1 or dtype == "f32":  # norms stay F32, as llama.cpp keeps them
        writer.add_tensor(name, tensor.contiguous().numpy())
    elif dtype == "f16":
        writer.add_tensor(name, tensor.to(torch.float16).contiguous().numpy())
    else:  # numpy has no bfloat16: the raw 16-bit patterns, typed BF16
        bits = tensor.to(torch.bfloat16).contiguous().view(torch.int16).numpy()
        writer.add_tensor(name, bits, raw_shape=bits.shape, raw_dtype=gguf.GGMLQuantizationType.BF16)


@dataclass(frozen=True)
class GgufCheck:
    """The GGUF file loaded back next to its safetensors folder: the largest |logit difference| over
    `prompt_tokens` positions, and whether the rebuilt tokenizer gives the same ids and text."""

    max_abs_logit_diff: float
    prompt_tokens: int
    tokenizer_same_ids: bool
    tokenizer_round_trip: bool

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def verify_gguf(model_dir: Path | str, gguf_path: Path | str, prompts: Sequence[str]) -> GgufCheck:
    """Load `gguf_path` with transformers' `gguf_file` loader (model and tokenizer, float32 on the CPU) and
    compare it with the safetensors folder `model_dir` on `prompts` rendered with the chat template."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from bmw_assets.sharing.export import max_abs_difference, prompt_logits

    gguf_path = Path(gguf_path)
    reference = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32, use_safetensors=True).eval()
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    loaded = AutoModelForCausalLM.from_pretrained(gguf_path.parent, gguf_file=gguf_path.name, dtype=torch.float32)
    rebuilt = AutoTokenizer.from_pretrained(gguf_path.parent, gguf_file=gguf_path.name)
    expected = prompt_logits(reference, tokenizer, prompts)
    difference = max_abs_difference(expected, prompt_logits(loaded.eval(), tokenizer, prompts))
    same_ids = all(tokenizer(text)["input_ids"] == rebuilt(text)["input_ids"] for text in prompts)
    round_trip = all(rebuilt.decode(rebuilt(text)["input_ids"], skip_special_tokens=True) == text for text in prompts)
    return GgufCheck(max_abs_logit_diff=difference, prompt_tokens=sum(int(t.shape[0]) for t in expected),
                     tokenizer_same_ids=same_ids, tokenizer_round_trip=round_trip)  # fmt: skip


def write_verified_gguf(
    model_dir: Path | str, file_name: str, dtype: GgufDtype, prompts: Sequence[str], progress: Any = None
) -> dict[str, Any]:
    """Write `model_dir` as `model_dir/file_name` in `dtype`, load it back and compare (`verify_gguf`);
    keep the file only when the logits agree within GGUF_LOGIT_TOLERANCE[dtype] and the tokenizer gives the
    same ids and text, else raise GgufMismatchError. Returns (and records in `<file_name>.json`) the export
    and the check; an unchanged file with its record is returned without loading anything."""
    log = progress or (lambda message: None)
    target = Path(model_dir) / file_name
    record_path = target.with_name(target.name + ".json")
    if record_path.is_file() and target.is_file():
        record = json.loads(record_path.read_text(encoding="utf-8"))
        if record["export"]["sha256"] == sha256_file(target):
            log(f"{target} already holds the verified GGUF export")
            return record
    exported = export_gguf(model_dir, target, dtype)
    log(f"wrote {target} ({exported.size_bytes / 2**20:.1f} MiB, {exported.seconds} s); loading it back")
    check = verify_gguf(model_dir, target, prompts)
    tolerance = GGUF_LOGIT_TOLERANCE[dtype]
    log(f"GGUF vs safetensors logits: max |difference| {check.max_abs_logit_diff:.3g} (tolerance {tolerance:g})")
    if not (check.max_abs_logit_diff <= tolerance and check.tokenizer_same_ids and check.tokenizer_round_trip):
        target.unlink(missing_ok=True)
        raise GgufMismatchError(
            f"{target} loaded back differs from {model_dir}: logits by up to {check.max_abs_logit_diff:.3g} "
            f"(tolerance {tolerance:g}), same token ids {check.tokenizer_same_ids}, text round trip "
            f"{check.tokenizer_round_trip}; the file was removed"
        )
    record = {"export": exported.to_dict(), "check": check.to_dict(), "tolerance": tolerance, "prompts": list(prompts)}
    write_json_atomic(record_path, record)
    return record
