"""Publish a dataset version folder or a model folder to the Hugging Face Hub, and fetch one back.

The token is read from an environment variable when a transfer starts (only the variable's
name is kept, so the token never reaches a log, a repr or the catalog). Before any transfer a
single bounded request (`/api/whoami-v2`, `REACH_TIMEOUT_S`) checks the Hub answers and accepts
the token, because the library's own HTTP client waits without a time limit: offline
(`HF_HUB_OFFLINE=1`), unreachable or refused, the call fails within seconds with
`HubUnavailableError` saying which, instead of hanging.

A token goes only to an allowed Hub (huggingface.co, or `BMW_HUB_ENDPOINT` set by the operator)
and only from a Hub token variable (`TOKEN_VARIABLES`), whatever a run config says. A Hub or a
proxy may echo the token in an error body: every error raised here has the project's secrets
masked and no cause attached (Dagster records an exception's whole chain).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from bmw_assets.run_folders import CHECKPOINT_PREFIX, EXPORT_RECORD_FILE, MANIFEST_FILE
from bmw_assets.secrets import redact
from bmw_assets.settings import hub_endpoints

TOKEN_ENV = "HF_TOKEN"
TOKEN_VARIABLES = (TOKEN_ENV, "HUGGING_FACE_HUB_TOKEN")  # the variables huggingface_hub itself reads
REACH_TIMEOUT_S = 5.0
# Never published: manifests and the export record hold this machine's absolute paths; checkpoint-*
# holds optimizer state; hidden files are staging folders and caches.
DEFAULT_IGNORE = (
    MANIFEST_FILE, f"*/{MANIFEST_FILE}", EXPORT_RECORD_FILE, f"*/{EXPORT_RECORD_FILE}", "*.gguf.json",
    f"{CHECKPOINT_PREFIX}*", f"{CHECKPOINT_PREFIX}*/**", "*.tmp", ".*",
)  # fmt: skip

RepoType = Literal["model", "dataset"]


class HubUnavailableError(RuntimeError):
    """The Hub cannot be used now: offline mode, no token, a rejected token or request, or no answer."""


def _check_token_variable(token_env: str) -> None:
    # Any other variable may hold another secret (the LLM key): it is never read as a Hub token.
    if token_env not in TOKEN_VARIABLES:
        raise ValueError(
            f"token_env {token_env!r} is not a Hub token variable; use one of {', '.join(TOKEN_VARIABLES)}"
        )


@contextmanager
def _secrets_masked(action: str) -> Iterator[None]:
    """Re-raise any error of the Hub client as HubUnavailableError with every secret masked and
    without its cause, which may hold the token (an error body, a request's headers)."""
    try:
        yield
    except HubUnavailableError:
        raise
    except Exception as error:
        raise HubUnavailableError(redact(f"{action} failed: {type(error).__name__}: {error}")) from None


@dataclass(frozen=True)
class HubRepo:
    """A repository on a Hub: `repo_id` is "owner/name"; `endpoint` None means $HF_ENDPOINT or
    https://huggingface.co; `token_env` names the environment variable holding the token."""

    repo_id: str
    repo_type: RepoType = "model"
    endpoint: str | None = None
    token_env: str = TOKEN_ENV

    def __post_init__(self) -> None:
        if self.repo_type not in ("model", "dataset"):
            raise ValueError(f"repo_type={self.repo_type!r}; use 'model' or 'dataset'")
        if self.repo_id.count("/") != 1 or not all(self.repo_id.split("/")):
            raise ValueError(f"repo_id={self.repo_id!r} is not 'owner/name'")
        _check_token_variable(self.token_env)
        allowed = hub_endpoints()
        if self.resolved_endpoint.lower() not in {url.lower() for url in allowed}:
            raise ValueError(
                f"{self.resolved_endpoint!r} is not an allowed Hub endpoint ({', '.join(allowed)}); an operator "
                "allows one more by setting BMW_HUB_ENDPOINT where the code location runs"
            )

    @property
    def resolved_endpoint(self) -> str:
        from huggingface_hub import constants

        return (self.endpoint or constants.ENDPOINT).rstrip("/")


@dataclass(frozen=True)
class Transfer:
    """What moved: the repo's URL, the commit (upload; None for a download), the local folder and
    the files (paths relative to it, sorted)."""

    url: str
    commit: str | None
    folder: Path
    files: list[str]


def hub_offline() -> bool:
    """True when HF_HUB_OFFLINE (or TRANSFORMERS_OFFLINE) is set now or was when huggingface_hub loaded."""
    from huggingface_hub import constants

    now = any(
        os.environ.get(name, "").upper() in {"1", "ON", "YES", "TRUE"}
        for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
    )
    return now or constants.is_offline_mode()


def read_token(token_env: str) -> str:
    """The token in environment variable `token_env` (one of TOKEN_VARIABLES, else ValueError);
    HubUnavailableError naming the variable when unset."""
    _check_token_variable(token_env)
    token = os.environ.get(token_env, "").strip()
    if not token:
        raise HubUnavailableError(
            f"environment variable {token_env} holds no Hugging Face token: create a write token at "
            "https://huggingface.co/settings/tokens and export it as " + token_env
        )
    return token


def check_hub(repo: HubRepo, token: str | None, timeout_s: float = REACH_TIMEOUT_S) -> str | None:
    """Fail fast unless the Hub at `repo`'s endpoint answers within `timeout_s` seconds and accepts
    `token`; return the token's user name (None without a token). Raises HubUnavailableError."""
    endpoint = repo.resolved_endpoint
    if hub_offline():
        raise HubUnavailableError(
            f"HF_HUB_OFFLINE is set, so {endpoint} is not contacted; unset HF_HUB_OFFLINE (and "
            f"TRANSFORMERS_OFFLINE) to transfer {repo.repo_type} {repo.repo_id}"
        )
    import httpx2
    from huggingface_hub.utils import build_hf_headers, get_session, hf_raise_for_status

    url = f"{endpoint}/api/whoami-v2" if token else f"{endpoint}/api/{repo.repo_type}s/{repo.repo_id}"
    try:
        response = get_session().get(url, headers=build_hf_headers(token=token or False), timeout=timeout_s)
    except httpx2.TimeoutException:
        raise HubUnavailableError(
            f"{endpoint} did not answer within {timeout_s:.0f} s: no network or the Hub is down"
        ) from None
    except httpx2.TransportError as error:
        raise HubUnavailableError(
            redact(f"{endpoint} cannot be reached ({type(error).__name__}: {error}): no network?")
        ) from None
    if token and response.status_code == 401:
        raise HubUnavailableError(f"{endpoint} rejected the token in {repo.token_env} (401): use a valid write token")
    with _secrets_masked(f"checking {endpoint}"):
        hf_raise_for_status(response)
        return response.json().get("name") if token else None


def _files(folder: Path, allow: Sequence[str] | None, ignore: Sequence[str]) -> list[str]:
    from huggingface_hub.utils import filter_repo_objects

    relative = sorted(path.relative_to(folder).as_posix() for path in folder.rglob("*") if path.is_file())
    return list(filter_repo_objects(relative, allow_patterns=allow, ignore_patterns=list(ignore)))


def upload_folder(
    folder: Path,
    repo: HubRepo,
    *,
    private: bool = True,
    commit_message: str | None = None,
    allow_patterns: Sequence[str] | None = None,
    ignore_patterns: Sequence[str] = DEFAULT_IGNORE,
    progress: Callable[[str], None] | None = None,
) -> Transfer:
    """Create `repo` if needed (private by default) and upload `folder`'s files in one call of
    `HfApi.upload_folder`, filtered by the glob patterns (the manifest with local paths, checkpoints
    and hidden files stay home by default). Returns the Transfer with the exact file list sent.
    Raises HubUnavailableError before any transfer when the token or the Hub is missing."""
    from huggingface_hub import HfApi

    folder = Path(folder)
    files = _files(folder, allow_patterns, ignore_patterns)
    if not files:
        raise ValueError(f"{folder} holds no file to upload (allow {allow_patterns}, ignore {list(ignore_patterns)})")
    token = read_token(repo.token_env)
    user = check_hub(repo, token)
    log = progress or (lambda message: None)
    log(f"uploading {len(files)} files from {folder} to {repo.repo_type} {repo.repo_id} as {user}")
    api = HfApi(endpoint=repo.resolved_endpoint, token=token)
    with _secrets_masked(f"uploading {folder} to {repo.repo_type} {repo.repo_id}"):
        repo_url = api.create_repo(repo.repo_id, repo_type=repo.repo_type, private=private, exist_ok=True)
        commit = api.upload_folder(
            repo_id=repo.repo_id, folder_path=folder, repo_type=repo.repo_type,
            commit_message=commit_message or f"Upload {folder.name}",
            allow_patterns=list(allow_patterns) if allow_patterns else None, ignore_patterns=list(ignore_patterns),
        )  # fmt: skip
    log(f"committed {commit.oid} to {repo_url}")
    return Transfer(url=str(repo_url), commit=commit.oid, folder=folder, files=files)


def download_folder(
    repo: HubRepo,
    local_dir: Path,
    *,
    revision: str | None = None,
    allow_patterns: Sequence[str] | None = None,
    progress: Callable[[str], None] | None = None,
) -> Transfer:
    """Download `repo` (at `revision`, default main) into `local_dir` with `snapshot_download`; the
    token is used when its variable is set (public repos need none). Returns the Transfer with
    the files now in `local_dir`. Raises HubUnavailableError when offline or unreachable."""
    from huggingface_hub import snapshot_download

    token = os.environ.get(repo.token_env, "").strip() or None
    check_hub(repo, token)
    log = progress or (lambda message: None)
    log(f"downloading {repo.repo_type} {repo.repo_id} into {local_dir}")
    with _secrets_masked(f"downloading {repo.repo_type} {repo.repo_id}"):
        path = Path(
            snapshot_download(
                repo.repo_id,
                repo_type=repo.repo_type,
                revision=revision,
                local_dir=local_dir,
                token=token or False,
                endpoint=repo.resolved_endpoint,
                allow_patterns=list(allow_patterns) if allow_patterns else None,
            )  # fmt: skip
        )
    files = _files(path, None, (".cache/**",))
    log(f"downloaded {len(files)} files")
    url = f"{repo.resolved_endpoint}/{'datasets/' if repo.repo_type == 'dataset' else ''}{repo.repo_id}"
    return Transfer(url=url, commit=None, folder=path, files=files)
