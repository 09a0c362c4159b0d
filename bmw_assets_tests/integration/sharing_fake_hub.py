"""A Hugging Face Hub stand-in on a loopback port: the few routes `huggingface_hub` uses to check a
token, create a repo, validate a README's front matter, upload a folder (small files as "regular"
blobs, base64 in the NDJSON commit; large ones through LFS) and download it back (repo info, tree,
resolve). The Hub itself cannot be reached from tests, so
this is the network call's stand-in; the real `huggingface_hub` client runs against it unchanged."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import threading

import pytest
import yaml
from aiohttp import web

TOKEN = "hf_test_token_not_real"
USER = "tester"
# Larger files go through LFS (the real Hub's cut-off is similar); the client must have Xet switched
# off (HF_HUB_DISABLE_XET), as this stand-in does not speak the Xet storage protocol.
LFS_THRESHOLD = 10 * 1024**2


class FakeHub:
    """`repos[(repo_type, repo_id)]` maps path -> bytes after each commit; `requests` lists (method, path)."""

    def __init__(self) -> None:
        self.repos: dict[tuple[str, str], dict[str, bytes]] = {}
        self.requests: list[tuple[str, str]] = []
        self._lfs_objects: dict[str, bytes] = {}  # sha256 -> content PUT through the LFS route
        self.front_matter: list[dict] = []  # parsed YAML of each README.md validated before an upload
        self._ready = threading.Event()
        self._thread = threading.Thread(target=asyncio.run, args=(self._main(),), daemon=True)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _files(self, kind: str, owner: str, name: str) -> dict[str, bytes]:
        return self.repos.setdefault((kind.rstrip("s"), f"{owner}/{name}"), {})

    def _sha(self, kind: str, owner: str, name: str) -> str:
        files = self._files(kind, owner, name)
        return hashlib.sha1(
            json.dumps(sorted((p, hashlib.sha1(b).hexdigest()) for p, b in files.items())).encode()
        ).hexdigest()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        self.requests.append((request.method, request.path))
        parts = request.path.strip("/").split("/")
        if request.headers.get("Authorization", "") not in ("", f"Bearer {TOKEN}"):
            return web.json_response({"error": "Invalid credentials"}, status=401)
        if parts[:2] == ["api", "whoami-v2"]:
            if not request.headers.get("Authorization"):
                return web.json_response({"error": "no token"}, status=401)
            return web.json_response({"name": USER, "type": "user"})
        if parts[:2] == ["api", "validate-yaml"]:  # a README's front matter must at least be YAML
            body = await request.json()
            try:
                self.front_matter.append(yaml.safe_load(body["content"].split("---")[1]))
            except (yaml.YAMLError, IndexError) as error:
                return web.json_response({"errors": [{"message": str(error)}]}, status=400)
            return web.json_response({"errors": [], "warnings": []})
        if parts[:3] == ["api", "repos", "create"]:
            body = await request.json()
            kind = body.get("type") or "model"
            repo_id = f"{body.get('organization') or USER}/{body['name']}"
            self.repos.setdefault((kind, repo_id), {})
            prefix = "" if kind == "model" else f"{kind}s/"
            return web.json_response({"url": f"{self.endpoint}/{prefix}{repo_id}"})
        if parts[0] == "api" and len(parts) >= 6 and parts[4] == "preupload":
            body = await request.json()
            files = [{"path": f["path"], "uploadMode": "lfs" if f["size"] > LFS_THRESHOLD else "regular",
                      "shouldIgnore": False, "oid": None} for f in body["files"]]  # fmt: skip
            return web.json_response({"files": files})
        if request.path.endswith(".git/info/lfs/objects/batch"):  # LFS: each object is PUT to its own URL
            body = await request.json()
            objects = [
                {**o, "actions": {"upload": {"href": f"{self.endpoint}/lfs-upload/{o['oid']}"}}}
                for o in body["objects"]
            ]
            return web.json_response({"transfer": "basic", "objects": objects})
        if parts[0] == "lfs-upload" and request.method == "PUT":
            content = await request.read()
            if hashlib.sha256(content).hexdigest() != parts[1]:
                return web.json_response({"error": "sha256 mismatch"}, status=400)
            self._lfs_objects[parts[1]] = content
            return web.Response()
        if parts[0] == "api" and len(parts) >= 6 and parts[4] == "commit":
            kind, owner, name = parts[1:4]
            files = self._files(kind, owner, name)
            for line in (await request.read()).decode().splitlines():
                item = json.loads(line)
                if item["key"] == "file":
                    files[item["value"]["path"]] = base64.b64decode(item["value"]["content"])
                elif item["key"] == "lfsFile":
                    files[item["value"]["path"]] = self._lfs_objects[item["value"]["oid"]]
            sha = self._sha(kind, owner, name)
            return web.json_response({"commitUrl": f"{self.endpoint}/{owner}/{name}/commit/{sha}", "commitOid": sha})
        if parts[0] == "api" and len(parts) >= 6 and parts[4] == "tree":
            files = self._files(*parts[1:4])
            return web.json_response(
                [
                    {"type": "file", "path": p, "size": len(b), "oid": hashlib.sha1(b).hexdigest()}
                    for p, b in sorted(files.items())
                ]
            )
        if parts[0] == "api" and len(parts) >= 4:  # repo info, with or without /revision/<rev>
            kind, owner, name = parts[1:4]
            if (kind.rstrip("s"), f"{owner}/{name}") not in self.repos:
                return web.json_response(
                    {"error": "Repository not found"}, status=404, headers={"X-Error-Code": "RepoNotFound"}
                )
            files = self._files(kind, owner, name)
            return web.json_response({"id": f"{owner}/{name}", "sha": self._sha(kind, owner, name), "private": True,
                                      "siblings": [{"rfilename": p} for p in sorted(files)]})  # fmt: skip
        if "resolve" in parts:  # [datasets/]owner/name/resolve/<rev>/<path>
            at = parts.index("resolve")
            kind = "datasets" if at == 3 else "models"
            owner, name = parts[at - 2 : at]
            path = "/".join(parts[at + 2 :])
            content = self._files(kind, owner, name).get(path)
            if content is None:
                return web.json_response(
                    {"error": "Entry not found"}, status=404, headers={"X-Error-Code": "EntryNotFound"}
                )
            headers = {"X-Repo-Commit": self._sha(kind, owner, name), "ETag": f'"{hashlib.sha1(content).hexdigest()}"',
                       "Content-Length": str(len(content))}  # fmt: skip
            return web.Response(body=None if request.method == "HEAD" else content, headers=headers)
        return web.json_response({"error": f"no route {request.method} {request.path}"}, status=404)

    async def _main(self) -> None:
        app = web.Application(client_max_size=2 * 1024**3)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]
        self._loop, self._stop = asyncio.get_running_loop(), asyncio.Event()
        self._ready.set()
        await self._stop.wait()
        await runner.cleanup()

    def __enter__(self) -> FakeHub:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("the fake Hub did not start within 10 s")
        return self

    def __exit__(self, *exc: object) -> None:
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)


@pytest.fixture
def hub_online(monkeypatch):
    """Hub access switched on for one test (the suite runs with HF_HUB_OFFLINE=1, which huggingface_hub
    also read at import), Xet off (FakeHub speaks LFS) and FakeHub's token in HF_TOKEN; import it to use it."""
    from huggingface_hub import constants

    for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(constants, "HF_HUB_DISABLE_XET", True)
    monkeypatch.setenv("HF_TOKEN", TOKEN)
