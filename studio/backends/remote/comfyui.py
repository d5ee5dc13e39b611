"""Stable Diffusion on ComfyUI servers: the workflow template filled per page, the control map
(or photo) uploaded through ``/upload/image``, the job queued with ``POST /prompt`` and followed on
the websocket ``/ws?clientId=`` (``progress``, ``executing``, ``executed``), the picture fetched
through ``/history/{prompt_id}`` and ``/view``. Cancel interrupts our job if it runs, or takes it
out of the queue if it waits. Several servers (``GIEOK_COMFYUI_URLS``) form a pool.
"""
from __future__ import annotations

import json
import logging
import time
import uuid
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

from studio.backends.base import (
    Availability, BackendError, CancelToken, Cancelled, IllustrationRequest, StepCallback, missing_packages,
)
from studio.backends.remote import comfy_workflow
from studio.backends.remote.common import (
    Credentials, WorkerDown, image_from_bytes, kind_map, png_bytes, safe_url, split_urls,
)
from studio.backends.remote.http import RemoteHTTP
from studio.backends.remote.lines import pool_capacity
from studio.backends.remote.pool import WorkerPool

log = logging.getLogger(__name__)
SERVICE = "ComfyUI"


class ComfyUIIllustrator:
    name = "comfyui"
    label = "ComfyUI"
    takes_credentials = False
    reproducible = True  # same seed, workflow and models on the same server give the same picture

    def __init__(self, settings: Any) -> None:
        self.settings = settings
        self.pool = WorkerPool(split_urls(settings.comfyui_urls), settings.remote_cooldown_s)
        self.http = RemoteHTTP(SERVICE, settings)

    @property
    def source(self) -> str:
        return self.settings.comfyui_checkpoint

    def available(self) -> Availability:
        if missing_packages("httpx", "websockets"):
            return Availability.no("avail.needs_packages", packages="httpx, websockets")
        if not self.pool.workers:
            return Availability.no("avail.comfyui_unset")
        if not self.settings.comfyui_checkpoint:
            return Availability.no("avail.comfyui_no_checkpoint")
        return Availability.yes("avail.comfyui_ready", checkpoint=self.settings.comfyui_checkpoint,
                                count=len(self.pool.workers), addresses=", ".join(safe_url(u) for u in self.pool.urls))

    def capacity(self) -> int:
        """Jobs of this studio at once: one per server unless set (the app's remote line)."""
        return pool_capacity(self.settings, self.pool)

    def illustrate(self, request: IllustrationRequest, on_step: StepCallback | None = None,
                   cancel: CancelToken | None = None, credentials: Credentials | None = None):
        cancel = cancel or CancelToken()
        cancel.raise_if_cancelled()
        if not self.settings.comfyui_checkpoint:
            raise BackendError("remote.no_model", service=SERVICE, what="remote.what_picture")
        controls = kind_map(self.settings.comfyui_controlnets)
        placeholders = self._images(request)
        comfy_workflow.fill(request, self.source, controls, {k: "check.png" for k in placeholders})  # fails early
        return self.pool.run(lambda url: self._make_on(url, request, controls, on_step, cancel), SERVICE)

    @staticmethod
    def _images(request: IllustrationRequest) -> dict[str, Any]:
        images = {}
        if request.control_image is not None and request.spec.control.kind != "none":
            images["control"] = request.control_image
        if request.init_image is not None:
            images["init"] = request.init_image
        return images

    # -- one job on one server ----------------------------------------------------------------
    def _make_on(self, url: str, request: IllustrationRequest, controls: dict[str, str],
                 on_step: StepCallback | None, cancel: CancelToken):
        client_id = uuid.uuid4().hex
        with self._socket(url, client_id) as ws:  # opened first: no message of our job is missed
            uploaded = {purpose: self._upload(url, image, purpose, cancel)
                        for purpose, image in self._images(request).items()}
            workflow = comfy_workflow.fill(request, self.source, controls, uploaded)
            answer = self.http.call("POST", url + "/prompt", json={"prompt": workflow, "client_id": client_id},
                                    cancel=cancel, timeout=30, model=self.source, accept=(400,))
            try:
                queued = answer.json()
            except ValueError:
                raise BackendError("remote.bad_answer", service=SERVICE) from None
            prompt_id = queued.get("prompt_id") if isinstance(queued, dict) and answer.status_code == 200 else None
            if not prompt_id:
                raise BackendError("remote.workflow_error", service=SERVICE, detail=_node_errors(queued))
            self._follow(ws, url, prompt_id, on_step, cancel)
        return self._fetch(url, prompt_id, comfy_workflow.output_node(workflow), cancel)

    def _socket(self, url: str, client_id: str):
        from websockets.exceptions import InvalidHandshake
        from websockets.sync.client import connect

        parts = urlsplit(url)
        ws_url = urlunsplit(("wss" if parts.scheme == "https" else "ws", parts.netloc,
                             parts.path.rstrip("/") + "/ws", urlencode({"clientId": client_id}), ""))
        try:
            return connect(ws_url, open_timeout=10, close_timeout=2, max_size=64 * 1024 * 1024)
        except (OSError, InvalidHandshake, TimeoutError) as exc:
            raise WorkerDown("remote.server_down", service=SERVICE, address=safe_url(url)) from exc

    def _upload(self, url: str, image, purpose: str, cancel: CancelToken) -> str:
        name = f"gieok_{purpose}_{uuid.uuid4().hex[:12]}.png"
        answer = self.http.json("POST", url + "/upload/image", files={"image": (name, png_bytes(image), "image/png")},
                                data={"type": "input", "overwrite": "true"}, cancel=cancel, timeout=60)
        stored = answer.get("name") if isinstance(answer, dict) else None
        if not stored:
            raise BackendError("remote.bad_answer", service=SERVICE)
        subfolder = answer.get("subfolder") or ""
        return f"{subfolder}/{stored}" if subfolder else stored

    def _follow(self, ws, url: str, prompt_id: str, on_step: StepCallback | None, cancel: CancelToken) -> None:
        """Read the websocket until our job has finished, failed or been interrupted."""
        from websockets.exceptions import ConnectionClosed

        deadline = time.monotonic() + float(self.settings.remote_timeout_s)
        running = False
        while True:
            if cancel.cancelled:
                self._stop(url, prompt_id, running)
                raise Cancelled("common.stopped")
            if time.monotonic() > deadline:
                self._stop(url, prompt_id, running)
                raise BackendError("remote.timeout", service=SERVICE)
            try:
                raw = ws.recv(timeout=0.1)
            except TimeoutError:
                continue
            except ConnectionClosed as exc:
                raise WorkerDown("remote.server_down", service=SERVICE, address=safe_url(url)) from exc
            if isinstance(raw, bytes):
                continue  # preview pictures
            message = json.loads(raw)
            kind, data = message.get("type"), message.get("data") or {}
            if data.get("prompt_id") not in (None, prompt_id):
                continue  # another visitor's job on the same server
            if kind in ("execution_start", "executing") and data.get("prompt_id") == prompt_id:
                running = True
            if kind == "progress" and on_step is not None and data.get("prompt_id") == prompt_id:
                on_step(int(data.get("value", 0)), int(data.get("max", 0)) or 1, None)
            elif kind == "executing" and data.get("node") is None and data.get("prompt_id") == prompt_id:
                return
            elif kind == "execution_success" and data.get("prompt_id") == prompt_id:
                return
            elif kind == "execution_error":
                detail = f"{data.get('node_type', '')}: {data.get('exception_message', '')}".strip(": ")
                raise BackendError("remote.workflow_error", service=SERVICE, detail=detail[:200])
            elif kind == "execution_interrupted":
                raise Cancelled("common.stopped")

    def _stop(self, url: str, prompt_id: str, running: bool) -> None:
        """Interrupt our job if it runs; otherwise take it out of the queue (others' jobs untouched)."""
        try:
            if running:
                self.http.call("POST", url + "/interrupt", json={"prompt_id": prompt_id}, timeout=10, retries=0)
            else:
                self.http.call("POST", url + "/queue", json={"delete": [prompt_id]}, timeout=10, retries=0)
        except BackendError as exc:
            log.warning("could not stop the job on %s: %s", safe_url(url), exc)

    def _fetch(self, url: str, prompt_id: str, output_node: str, cancel: CancelToken):
        history = self.http.json("GET", f"{url}/history/{prompt_id}", cancel=cancel, timeout=30)
        outputs = (history.get(prompt_id) or {}).get("outputs", {}) if isinstance(history, dict) else {}
        images = (outputs.get(output_node) or {}).get("images") or [
            image for out in outputs.values() for image in out.get("images", [])]
        if not images:
            raise BackendError("remote.no_image", service=SERVICE)
        first = images[0]
        query = urlencode({"filename": first.get("filename", ""), "subfolder": first.get("subfolder", ""),
                           "type": first.get("type", "output")})
        response = self.http.call("GET", f"{url}/view?{query}", cancel=cancel, timeout=60)
        return image_from_bytes(response.content, SERVICE)

    # -- Settings' test button --------------------------------------------------------------
    def check(self) -> list[tuple[str, BackendError | None]]:
        return self.pool.check(self._probe)

    def _probe(self, url: str) -> None:
        info = self.http.json("GET", url + "/object_info/CheckpointLoaderSimple", timeout=10, retries=0)
        try:
            names = info["CheckpointLoaderSimple"]["input"]["required"]["ckpt_name"][0]
        except (KeyError, IndexError, TypeError):
            raise BackendError("remote.bad_answer", service=SERVICE) from None
        wanted = self.settings.comfyui_checkpoint
        if wanted and wanted not in names:
            raise BackendError("remote.model_not_found", service=SERVICE, model=wanted)


def _node_errors(answer: Any) -> str:
    if not isinstance(answer, dict):
        return ""
    parts = []
    for node in (answer.get("node_errors") or {}).values():
        for error in node.get("errors", []):
            parts.append(f"{node.get('class_type', '')}: {error.get('message', '')} {error.get('details', '')}")
    error = answer.get("error")
    if not parts and isinstance(error, dict):
        parts.append(str(error.get("message", "")))
    return "; ".join(p.strip() for p in parts)[:200]
