"""Resources: each external system behind one interface, with a live implementation and an
embedded (local) one where the two differ; `bmw_assets.definitions` picks them once from the
deployment settings."""

import sys
from abc import ABC, abstractmethod
from dataclasses import replace
from pathlib import Path
from typing import Literal

import dagster as dg

from bmw_assets.defs.kubernetes import K8sPodSettings, pod_env, run_in_pod
from bmw_assets.llm_filter.classifier import load_or_train
from bmw_assets.llm_filter.decision import FilterSettings
from bmw_assets.llm_filter.endpoint import EndpointSettings, LocalEndpoint
from bmw_assets.llm_filter.run import Judge
from bmw_assets.models.base_model import PACKAGED_MODEL, ensure_base_model
from bmw_assets.models.config import (
    BaseModelConfig,
    ConfigError,
    VariantConfig,
    list_variants,
    load_base_model_config,
    load_variant_config,
)
from bmw_assets.pressclub import ClientSettings
from bmw_assets.replica.corpus import REPLICA_SIZE
from bmw_assets.settings import StorageLayout
from bmw_assets.training.launch import training_command, training_env


class StorageResource(dg.ConfigurableResource):
    """The storage root: catalog, PDFs, texts, datasets, models, reports."""

    root: str

    @property
    def layout(self) -> StorageLayout:
        return StorageLayout(Path(self.root))


class PressClubResource(dg.ConfigurableResource, ABC):
    """The press room to ingest from: the client settings to reach it, and how many articles
    `article_index` aims for. Download limits (ClientSettings says what each means) override the
    implementation's when set."""

    default_target: int = 60
    body_deadline_s: float | None = None
    min_bytes_per_s: float | None = None
    rate_grace_s: float | None = None
    max_retry_after_s: float | None = None

    @abstractmethod
    def site_settings(self) -> ClientSettings:
        """The client settings of the press room itself, before the download limits."""

    def client_settings(self) -> ClientSettings:
        limits = {
            "body_deadline_s": self.body_deadline_s,
            "min_bytes_per_s": self.min_bytes_per_s,
            "rate_grace_s": self.rate_grace_s,
            "max_retry_after_s": self.max_retry_after_s,
        }
        return replace(self.site_settings(), **{k: v for k, v in limits.items() if v is not None})


class LivePressClubResource(PressClubResource):
    """The real BMW Group PressClub, at polite settings."""

    def site_settings(self) -> ClientSettings:
        return ClientSettings.production()


class ReplicaPressClubResource(PressClubResource):
    """The project's PressClub replica: the one at `base_url`, or the packaged one serving
    `replica_size` articles, started on `replica_port` when nothing answers there yet."""

    base_url: str | None = None
    replica_port: int = 8765
    replica_state_dir: str | None = None
    replica_size: int = REPLICA_SIZE

    def site_settings(self) -> ClientSettings:
        base_url = self.base_url
        if base_url is None:
            from bmw_assets.replica.server import ensure_replica_running

            base_url = ensure_replica_running(self.replica_port, self.replica_state_dir, size=self.replica_size)
        return ClientSettings.local(base_url)


class ModelConfigsResource(dg.ConfigurableResource):
    """Variant configs and the base model's config (`configs/`), resolved for this profile."""

    profile: str = "local"
    configs_dir: str | None = None

    def load(self, variant: str) -> VariantConfig:
        return load_variant_config(variant, self.profile, self.configs_dir)

    def variants(self) -> list[str]:
        return list_variants(self.configs_dir)

    def load_valid(self) -> tuple[dict[str, VariantConfig], dict[str, str]]:
        """The configs of the variants that load, and the error of each that does not: a bad variant
        file fails its own partition only, not the assets every variant shares."""
        valid, errors = {}, {}
        for variant in self.variants():
            try:
                valid[variant] = self.load(variant)
            except ConfigError as error:
                errors[variant] = str(error)
        if not valid:
            raise ConfigError("no variant config loads:\n" + "\n".join(errors.values()))
        return valid, errors

    def base_model(self) -> BaseModelConfig:
        """The base model's settings and its evaluation's: base.yaml with this profile, no variant."""
        return load_base_model_config(self.profile, self.configs_dir)

    def base_model_name(self) -> str:
        """The model every variant starts from; variants compared against the base must all start from it."""
        name = self.base_model().model.name
        others = sorted({config.model.name for config in self.load_valid()[0].values()} - {name})
        if others:
            raise ValueError(f"variants start from {others}, not the base model {name!r}; give them its model.name")
        return name


class LLMEndpointResource(dg.ConfigurableResource, ABC):
    """What judges paragraphs behind `llm_text`: `method` "llm" (an OpenAI-compatible endpoint) or
    "classifier" (logistic regression over MiniLM embeddings, trained on the replica's labelled
    paragraphs; no endpoint, no requests). `keep_threshold`: a paragraph is dropped when its keep
    probability is below it; longer paragraphs than `max_judged_chars` are kept without asking."""

    concurrency: int = 2  # requests in flight
    max_judged_chars: int | None = None
    method: Literal["llm", "classifier"] = "llm"
    keep_threshold: float = FilterSettings.keep_threshold

    def filter_settings(self) -> FilterSettings:
        return FilterSettings(max_judged_chars=self.max_judged_chars, keep_threshold=self.keep_threshold)

    def judge(self, layout: StorageLayout) -> Judge:
        """The classifier (shipped weights, or trained once under the cache) or the endpoint."""
        if self.method == "classifier":
            return load_or_train(layout.cache_dir)
        return self.endpoint(layout)

    @abstractmethod
    def endpoint(self, layout: StorageLayout) -> EndpointSettings:
        """The endpoint to ask, started first if it is a local one that is not running."""


class RemoteLLMEndpointResource(LLMEndpointResource):
    """vLLM or OpenAI at `base_url` serving `model`; the key is read from the environment variable
    named by `api_key_env` when a request is made (never stored)."""

    base_url: str | None = None
    model: str = "openai/gpt-oss-120b"
    api_key_env: str = "OPENAI_API_KEY"
    concurrency: int = 16

    def endpoint(self, layout: StorageLayout) -> EndpointSettings:
        if not self.base_url:
            raise ValueError("a remote endpoint needs BMW_LLM_BASE_URL (a vLLM or OpenAI /v1 URL)")
        settings = EndpointSettings.production(self.base_url, self.model, self.api_key_env)
        return replace(settings, concurrency=self.concurrency)


class LocalLLMEndpointResource(LLMEndpointResource):
    """An endpoint on this host: the one at `base_url` (serving `model`, default the packaged
    model) if given, else the packaged model under `transformers serve` on `local_port`, started
    when nothing answers there."""

    base_url: str | None = None
    model: str | None = None
    local_port: int = 8766

    def endpoint(self, layout: StorageLayout) -> EndpointSettings:
        if self.base_url:
            model = self.model or ensure_base_model(PACKAGED_MODEL, layout.cache_dir / "base_models")
            return EndpointSettings.local(self.base_url, model, concurrency=self.concurrency)
        model_dir = ensure_base_model(PACKAGED_MODEL, layout.cache_dir / "base_models")
        server = LocalEndpoint(model_dir, self.local_port, layout.root / "logs" / "transformers-serve.log")
        return replace(server.start(), concurrency=self.concurrency)


class FactsResource(dg.ConfigurableResource, ABC):
    """Question/answer facts stated in articles, for `qa` rows and fact-recall evaluation."""

    @abstractmethod
    def facts(self) -> dict[str, list[tuple[str, str]]]:
        """(question, answer) pairs by article id."""


class ReplicaFactsResource(FactsResource):
    """The replica's ground truth for its corpus of `replica_size` articles (as the replica serves it)."""

    replica_size: int = REPLICA_SIZE

    def facts(self) -> dict[str, list[tuple[str, str]]]:
        from bmw_assets.replica.corpus import build_corpus

        return {a.id: [(f.question, f.answer) for f in a.facts] for a in build_corpus(size=self.replica_size)}


class NoFactsResource(FactsResource):
    """The live press room states no facts in a form to read: qa rows then come from the articles
    themselves; generating facts once with the LLM endpoint is future work."""

    def facts(self) -> dict[str, list[tuple[str, str]]]:
        return {}


class RetrainPolicyResource(dg.ConfigurableResource):
    """Whether new press releases retrain models: `min_new_articles` <= 0 never (the default,
    since training costs GPU hours); otherwise a trained variant whose dataset lacks at least
    that many articles of the newest dataset is trained again."""

    min_new_articles: int = 0


class ComputeResource(dg.ConfigurableResource):
    """Runs training and evaluation out of process through Dagster Pipes.

    One process on CPU or one GPU; `accelerate launch` across `num_gpus` GPUs for
    training (DDP for LoRA, FSDP for full fine-tuning) when there are several.
    `launcher` "subprocess" runs them on this host; "kubernetes" runs the same command
    in a GPU pod (`kubernetes` settings: image, resources, the storage root's volume).
    """

    num_gpus: int = 0
    hub_offline: bool = True  # the local profile never reaches the Hugging Face Hub
    launcher: Literal["subprocess", "kubernetes"] = "subprocess"
    kubernetes: K8sPodSettings | None = None

    def train(
        self, context: dg.AssetExecutionContext, spec_path: Path, method: str
    ) -> dg.PipesClientCompletedInvocation:
        command = training_command(spec_path, num_gpus=self.num_gpus, fsdp=method == "full")
        return self.run_command(context, command, gpus=self.num_gpus)

    def evaluate(self, context: dg.AssetExecutionContext, spec_path: Path) -> dg.PipesClientCompletedInvocation:
        command = [sys.executable, "-m", "bmw_assets.evaluation.run", "--spec", str(spec_path)]
        return self.run_command(context, command, gpus=min(self.num_gpus, 1))

    def run_command(
        self, context: dg.AssetExecutionContext, command: list[str], gpus: int
    ) -> dg.PipesClientCompletedInvocation:
        """Run `command` (a Pipes-speaking process using `gpus` GPUs) through the configured launcher."""
        if self.launcher == "kubernetes":
            if self.kubernetes is None:
                raise ValueError(
                    "launcher is 'kubernetes' but no pod settings are given (BMW_K8S_IMAGE, BMW_K8S_STORAGE_CLAIM)"
                )
            return run_in_pod(context, command, self.kubernetes, pod_env(offline=self.hub_offline), gpus)
        return dg.PipesSubprocessClient(env=training_env(offline=self.hub_offline)).run(
            context=context, command=command
        )
