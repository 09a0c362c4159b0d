"""No secret lives in the repository: the files git tracks (or would add) hold nothing shaped like
a real API key, token or private key, and no config sets a secret inline; a config may only
name the environment variable that holds one."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
# Shapes of real credentials (provider formats); test fakes are short or shaped otherwise.
KEY_PATTERNS = {
    "Hugging Face token": re.compile(r"\bhf_[A-Za-z0-9]{30,}"),
    "OpenAI key": re.compile(r"\bsk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_-]{32,}"),
    "AWS access key id": re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"),
    "GitHub token": re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{40,})"),
    "Slack token": re.compile(r"\bxox[abprs]-[A-Za-z0-9-]{10,}"),
    "Google API key": re.compile(r"\bAIza[0-9A-Za-z_-]{35}"),
    "private key": re.compile(r"-----BEGIN (?:RSA |EC |DSA |OPENSSH |ENCRYPTED )?PRIVATE KEY-----"),
    "bearer token": re.compile(r"\bBearer [A-Za-z0-9._~+/-]{32,}"),
}
# A key names a secret when one of its words does (max_new_tokens is a count, hf_token a secret).
SECRET_WORDS = {"apikey", "key", "token", "secret", "password", "passwd", "credential", "credentials"}
ENV_VAR_NAME = re.compile(r"^[A-Z][A-Z0-9_]*$")


def repository_files() -> list[Path]:
    """Tracked files plus untracked ones git would add (ignored files, e.g. storage/, left out)."""
    if shutil.which("git") is None or not (REPO / ".git").exists():
        pytest.skip("not a git checkout: no tracked files to scan")
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO, capture_output=True, check=True,
    ).stdout.decode()  # fmt: skip
    return [REPO / name for name in sorted(set(listed.split("\0"))) if name and (REPO / name).is_file()]


def key_shaped_strings(text: str) -> list[str]:
    return [
        f"{kind}: {match.group(0)[:12]}…" for kind, pattern in KEY_PATTERNS.items() for match in pattern.finditer(text)
    ]


def test_the_patterns_recognise_each_kind_of_key():
    # Built at run time so no key-shaped string sits in this file.
    samples = [
        "hf_" + "aB3" * 12, "sk-proj-" + "x9Y" * 16, "AKIA" + "ABCDEFGH23456789", "ghp_" + "Zz0" * 12,
        "xoxb-" + "1234-5678-abcdEFGH", "AIza" + "Sy" + "A1b2C3" * 5 + "d4e", "-----BEGIN RSA " + "PRIVATE KEY-----",
        "Authorization: Bearer " + "eyJhbGciOiJIUzI1NiJ9" * 2,
    ]  # fmt: skip
    assert [len(key_shaped_strings(sample)) for sample in samples] == [1] * len(samples)
    assert not key_shaped_strings("sk-test-secret-42 hf_hub_download task-runner Bearer sk-secret-123")


def test_no_repository_file_holds_a_key_shaped_string():
    files = repository_files()
    assert len(files) > 100 and REPO / "configs" / "base.yaml" in files
    found = {}
    for path in files:
        data = path.read_bytes()
        if b"\0" in data[:8192]:
            continue  # binary (images)
        if hits := key_shaped_strings(data.decode("utf-8", errors="replace")):
            found[str(path.relative_to(REPO))] = hits
    assert not found, found
    names = {path.name for path in files}
    assert not names & {".env", ".netrc", "id_rsa", "id_ed25519", "credentials.json"}, names & {".env", ".netrc"}


def _inline_secrets(value: object, dotted: str = "") -> list[str]:
    """Dotted keys whose name says secret and whose value is the secret itself, not an env var name."""
    if isinstance(value, list):
        return [hit for index, item in enumerate(value) for hit in _inline_secrets(item, f"{dotted}[{index}]")]
    if not isinstance(value, dict):
        return []
    found = []
    for key, inner in value.items():
        here = f"{dotted}.{key}" if dotted else str(key)
        words = re.split(r"[_\-.]", str(key).lower())
        if SECRET_WORDS & set(words) and isinstance(inner, str) and inner:
            if not (words[-1] == "env" and ENV_VAR_NAME.match(inner)):  # api_key_env: OPENAI_API_KEY names a variable
                found.append(here)
        found += _inline_secrets(inner, here)
    return found


def test_the_inline_secret_rule_tells_a_key_from_the_name_of_its_variable():
    assert _inline_secrets({"llm": {"api_key": "abc", "api_key_env": "OPENAI_API_KEY"}, "hub": [{"hf-token": "x"}]}) == [
        "llm.api_key", "hub[0].hf-token"
    ]  # fmt: skip
    assert _inline_secrets({"evaluation": {"max_new_tokens": 24, "tokenizer": "packaged"}, "api_key_env": "lower-case"}) == [
        "api_key_env"
    ]  # fmt: skip
    assert _inline_secrets({"llm": {"api_key_env": "OPENAI_API_KEY", "api_key": {"env": "OPENAI_API_KEY"}}}) == []


def test_no_config_sets_a_secret_inline():
    configs = sorted((REPO / "configs").rglob("*.y*ml")) + [REPO / "dagster.yaml", REPO / "workspace.yaml"]
    assert len(configs) >= 10
    found = {
        str(p.relative_to(REPO)): hits for p in configs if (hits := _inline_secrets(yaml.safe_load(p.read_text())))
    }
    assert not found, found
