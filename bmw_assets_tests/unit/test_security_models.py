"""Model files are data, never code: weights load only from safetensors (a folder with just a
pickled pytorch_model.bin is refused, and the pickle is never run), and a model's own Python
code runs only when a config turns `trust_remote_code` on."""

from __future__ import annotations

import ast
import json
import pickle
from pathlib import Path

import pytest
import torch

import bmw_assets
from bmw_assets.models.config import ConfigError, list_profiles, list_variants, load_variant_config
from bmw_assets.models.loading import load_model
from bmw_assets.run_specs import RunSpec, SpecError
from bmw_assets.stages.training import base_model_config
from bmw_assets.training.backend import BackendChoice
from bmw_assets.training.train import load_model as load_training_model
from bmw_assets_tests.specs import run_spec, shipped_config

PACKAGE = Path(bmw_assets.__file__).parent
# Loaders whose first argument names model weights; each must be told use_safetensors=True
# (a GGUF file, read by its own parser, is the one other accepted format).
WEIGHT_LOADERS = ("AutoModel", "AutoModelForCausalLM", "AutoModelForSequenceClassification", "PeftModel")


class RunsWhenUnpickled:
    """A pickle that creates `path` when loaded, as a hostile checkpoint would run its payload."""

    def __init__(self, path: Path):
        self.path = path

    def __reduce__(self):
        return (open, (str(self.path), "w"))


def save_tiny_tokenizer(folder: Path) -> None:
    """A real two-token tokenizer: the training loader reads the tokenizer before the weights."""
    from tokenizers import Tokenizer
    from tokenizers.models import WordLevel
    from transformers import PreTrainedTokenizerFast

    PreTrainedTokenizerFast(
        tokenizer_object=Tokenizer(WordLevel({"[UNK]": 0, "BMW": 1}, unk_token="[UNK]"))
    ).save_pretrained(folder)


@pytest.fixture()
def pickled_only_model(tmp_path: Path) -> tuple[Path, Path]:
    """(folder with config.json, tokenizer files and only a hostile pytorch_model.bin, the file its payload would create)."""
    from transformers import LlamaConfig

    folder, ran = tmp_path / "pickled-model", tmp_path / "PICKLE_PAYLOAD_RAN"
    LlamaConfig(num_hidden_layers=2, hidden_size=16, intermediate_size=32, num_attention_heads=2,
                num_key_value_heads=2, vocab_size=64).save_pretrained(folder)  # fmt: skip
    save_tiny_tokenizer(folder)
    (folder / "pytorch_model.bin").write_bytes(pickle.dumps(RunsWhenUnpickled(ran)))
    return folder, ran


@pytest.fixture()
def custom_code_model(tmp_path: Path) -> tuple[Path, Path]:
    """(a model folder whose config.json maps to its own Python module, the file that module creates on import)."""
    folder, ran = tmp_path / "custom-code-model", tmp_path / "REMOTE_CODE_RAN"
    folder.mkdir()
    (folder / "config.json").write_text(
        '{"model_type": "bmw_custom", "num_hidden_layers": 4, "auto_map": '
        '{"AutoConfig": "custom_model.CustomConfig", "AutoModelForCausalLM": "custom_model.CustomModel"}}'
    )
    (folder / "custom_model.py").write_text(f"open({str(ran)!r}, 'w').write('ran')\n")
    save_tiny_tokenizer(folder)
    return folder, ran


def training_spec(tmp_path: Path, model: Path, model_section: dict) -> RunSpec:
    return run_spec(tmp_path / "out", model, config=shipped_config(model=model_section))


def test_a_pickled_checkpoint_is_refused_by_every_loader_and_never_unpickled(tmp_path, pickled_only_model):
    folder, ran = pickled_only_model
    with pytest.raises(OSError, match="model.safetensors"):
        load_model(str(folder), None)  # evaluation and export
    spec = training_spec(tmp_path, folder, {"name": str(folder), "trust_remote_code": False, "dtype": "float32"})
    with pytest.raises(OSError, match="model.safetensors"):
        load_training_model(spec, BackendChoice("trl", False), torch.float32)
    from bmw_assets.evaluation.judges import NLIJudge

    with pytest.raises(OSError, match="model.safetensors"):
        NLIJudge.from_pretrained(str(folder))
    assert not ran.exists()


def test_model_code_does_not_run_unless_the_config_turns_it_on(tmp_path, custom_code_model):
    folder, ran = custom_code_model
    with pytest.raises(ConfigError, match=r"model.trust_remote_code: true .* \(off by default\)") as info:
        base_model_config(str(folder), tmp_path / "cache")  # the training plan's check, in the Dagster process
    assert repr(str(folder)) in str(info.value)
    with pytest.raises(ValueError, match="trust_remote_code=True"):
        load_model(str(folder), None)
    # The shipped configs keep it off, and a run spec cannot leave the key out.
    spec = training_spec(tmp_path, folder, {"name": str(folder), "dtype": "float32"})
    assert spec.config.model.trust_remote_code is False
    with pytest.raises(ValueError, match="trust_remote_code=True"):
        load_training_model(spec, BackendChoice("trl", False), torch.float32)
    data = json.loads(spec.model_dump_json())
    del data["config"]["model"]["trust_remote_code"]
    (tmp_path / "spec.json").write_text(json.dumps(data))
    with pytest.raises(SpecError, match=r"config\.model\.trust_remote_code: missing"):
        RunSpec.load(tmp_path / "spec.json")
    assert not ran.exists()


def test_every_shipped_variant_and_profile_keeps_remote_code_off():
    resolved = {
        (v, p): load_variant_config(v, p).model.trust_remote_code for v in list_variants() for p in list_profiles()
    }
    assert len(resolved) >= 12 and not any(resolved.values()), resolved


def _keyword(call: ast.Call, name: str) -> object:
    for keyword in call.keywords:
        if keyword.arg == name:
            return keyword.value.value if isinstance(keyword.value, ast.Constant) else keyword.value
    return None


def _receiver(call: ast.Call) -> str:
    return call.func.value.id if isinstance(call.func, ast.Attribute) and isinstance(call.func.value, ast.Name) else ""


def test_the_package_never_unpickles_or_loads_weights_other_than_safetensors():
    problems = []
    for path in sorted(PACKAGE.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        where = lambda node, path=path: f"{path.relative_to(PACKAGE.parent)}:{node.lineno}"  # noqa: E731
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                modules = [alias.name for alias in node.names] if isinstance(node, ast.Import) else [node.module or ""]
                problems += [
                    f"{where(node)} imports {m}"
                    for m in modules
                    if m.split(".")[0] in {"pickle", "dill", "joblib", "cloudpickle"}
                ]
            if not isinstance(node, ast.Call):
                continue
            name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
            if name == "load" and _receiver(node) == "torch":
                problems.append(f"{where(node)} calls torch.load")
            if _keyword(node, "weights_only") is False or _keyword(node, "use_safetensors") is False:
                problems.append(f"{where(node)} switches a safe-loading guard off")
            if _keyword(node, "trust_remote_code") is True:
                problems.append(f"{where(node)} hard-codes trust_remote_code=True")
            if name == "from_pretrained" and _receiver(node) in WEIGHT_LOADERS and _receiver(node) != "PeftModel":
                if _keyword(node, "use_safetensors") is not True and _keyword(node, "gguf_file") is None:
                    problems.append(f"{where(node)} {_receiver(node)}.from_pretrained without use_safetensors=True")
            if name == "SentenceTransformer":
                kwargs = _keyword(node, "model_kwargs")
                if not (
                    isinstance(kwargs, ast.Dict)
                    and "use_safetensors" in [k.value for k in kwargs.keys if isinstance(k, ast.Constant)]
                ):
                    problems.append(f"{where(node)} SentenceTransformer without model_kwargs use_safetensors")
    assert not problems, "\n".join(problems)
