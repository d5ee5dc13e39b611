"""Stable Diffusion on AUTOMATIC1111 / Forge WebUI servers started with ``--api``.

``/sdapi/v1/txt2img`` and ``/img2img`` make the picture; our rendered pose/depth/edge map goes to
the ControlNet extension through ``alwayson_scripts``; LoRAs are named in the prompt
(``<lora:name:weight>``, files present on the server). While a picture is made, a watcher polls
``/sdapi/v1/progress`` for steps and posts ``/sdapi/v1/interrupt`` when the visitor cancels.
One or several servers (``GIEOK_A1111_URLS``) form a pool shared by every kiosk.
"""
from __future__ import annotations

import logging
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from studio.backends.base import (
    Availability, BackendError, CancelToken, IllustrationRequest, StepCallback, missing_packages,
)
from studio.backends.remote.common import (
    A1111_SAMPLERS, Credentials, abandon_on_cancel, image_from_b64, kind_map, png_b64, safe_url, split_urls,
)
from studio.backends.remote.http import RemoteHTTP
from studio.backends.remote.lines import pool_capacity
from studio.backends.remote.pool import WorkerPool

log = logging.getLogger(__name__)
SERVICE = "WebUI"
LORA_LIST_TTL_S = 60.0


class A1111Illustrator:
    name = "a1111"
    label = "Stable Diffusion WebUI (A1111/Forge)"
    takes_credentials = False
    reproducible = True  # same seed, model and settings on the same server give the same picture
    poll_s = 0.5  # how often progress is asked for while a picture is made

    def __init__(self, settings: Any) -> None:
        self.settings = settings
        self.pool = WorkerPool(split_urls(settings.a1111_urls), settings.remote_cooldown_s)
        self.http = RemoteHTTP(SERVICE, settings)
        self._loras: dict[str, tuple[float, set[str]]] = {}  # server -> (when read, LoRA names)

    @property
    def source(self) -> str:  # written as "Model:" in the picture's parameters
        return self.settings.a1111_model or "webui-current-model"

    def available(self) -> Availability:
        if missing_packages("httpx"):
            return Availability.no("avail.needs_packages", packages="httpx")
        if not self.pool.workers:
            return Availability.no("avail.a1111_unset")
        return Availability.yes("avail.servers_ready", count=len(self.pool.workers),
                                addresses=", ".join(safe_url(u) for u in self.pool.urls))

    def capacity(self) -> int:
        """Jobs of this studio at once: one per server unless set (the app's remote line)."""
        return pool_capacity(self.settings, self.pool)

    # -- the request ------------------------------------------------------------------------
    def payload(self, request: IllustrationRequest) -> dict[str, Any]:
        """The WebUI's JSON for this page (checked before any server is asked)."""
        spec = request.spec
        tags = "".join(f" <lora:{_lora_name(lo)}:{float(lo.weight):g}>" for lo in spec.loras)
        payload: dict[str, Any] = {
            "prompt": request.prompt + tags, "negative_prompt": request.negative_prompt,
            "seed": int(spec.seed), "steps": int(spec.steps), "cfg_scale": float(spec.guidance),
            "width": int(spec.width), "height": int(spec.height),
            "sampler_name": A1111_SAMPLERS.get(spec.scheduler, "Euler a"),
            "batch_size": 1, "n_iter": 1, "send_images": True, "save_images": False,
        }
        if self.settings.a1111_model:
            payload["override_settings"] = {"sd_model_checkpoint": self.settings.a1111_model}
        if request.init_image is not None:
            payload.update(init_images=[png_b64(request.init_image)], denoising_strength=float(spec.strength))
        if request.control_image is not None and spec.control.kind != "none":
            model = kind_map(self.settings.a1111_controlnets).get(spec.control.kind)
            if not model:
                raise BackendError("remote.controlnet_missing", service=SERVICE, kind=spec.control.kind)
            unit = {"enabled": True, "module": "none", "model": model, "image": png_b64(request.control_image),
                    "weight": float(spec.control.scale), "guidance_start": float(spec.control.start),
                    "guidance_end": float(spec.control.end), "resize_mode": "Crop and Resize",
                    "control_mode": "Balanced", "pixel_perfect": False}
            payload["alwayson_scripts"] = {"controlnet": {"args": [unit]}}
        return payload

    # -- making a picture -------------------------------------------------------------------
    def illustrate(self, request: IllustrationRequest, on_step: StepCallback | None = None,
                   cancel: CancelToken | None = None, credentials: Credentials | None = None):
        cancel = cancel or CancelToken()
        cancel.raise_if_cancelled()
        payload = self.payload(request)
        loras = [_lora_name(lo) for lo in request.spec.loras]
        route = "/sdapi/v1/img2img" if request.init_image is not None else "/sdapi/v1/txt2img"
        return self.pool.run(lambda url: self._make_on(url, route, payload, loras, on_step, cancel), SERVICE)

    def _make_on(self, url: str, route: str, payload: dict, loras: list[str], on_step, cancel: CancelToken):
        self._check_loras(url, loras, cancel)
        task_id = f"task(gieok-{uuid.uuid4().hex[:16]})"  # lets us ask about *our* job, not the server's
        watcher = _ProgressWatcher(self, url, task_id, int(payload["steps"]), on_step, cancel)
        watcher.start()
        try:  # on cancel we stop waiting at once; the watcher interrupts our job when it runs
            answer = abandon_on_cancel(lambda: self.http.json(
                "POST", url + route, json={**payload, "force_task_id": task_id}, model=self.source), cancel)
        finally:
            if not cancel.cancelled:
                watcher.stop()
        images = answer.get("images") if isinstance(answer, dict) else None
        if not images:
            raise BackendError("remote.no_image", service=SERVICE)
        return image_from_b64(images[0], SERVICE)  # later images are the ControlNet's own previews

    def _check_loras(self, url: str, names: list[str], cancel: CancelToken) -> None:
        if not names:
            return
        when, known = self._loras.get(url, (0.0, set()))
        if time.monotonic() - when > LORA_LIST_TTL_S or not set(names) <= known:
            listed = self.http.json("GET", url + "/sdapi/v1/loras", cancel=cancel, timeout=30)
            known = {str(item.get(k)) for item in listed or [] if isinstance(item, dict)
                     for k in ("name", "alias") if item.get(k)}
            self._loras[url] = (time.monotonic(), known)
        for name in names:
            if name not in known:
                raise BackendError("remote.lora_missing", service=SERVICE, name=name)

    def interrupt(self, url: str) -> None:
        self.http.call("POST", url + "/sdapi/v1/interrupt", timeout=10, retries=0)

    # -- Settings' test button --------------------------------------------------------------
    def check(self) -> list[tuple[str, BackendError | None]]:
        return self.pool.check(self._probe)

    def _probe(self, url: str) -> None:
        models = self.http.json("GET", url + "/sdapi/v1/sd-models", timeout=10, retries=0)
        wanted = self.settings.a1111_model
        names = {str(m.get(k)) for m in models or [] if isinstance(m, dict) for k in ("title", "model_name")}
        if wanted and wanted not in names:
            raise BackendError("remote.model_not_found", service=SERVICE, model=wanted)


def _lora_name(choice) -> str:
    """The name the WebUI knows a LoRA by: its file name without the extension."""
    return Path(choice.name or choice.ref).stem


class _ProgressWatcher:
    """Follows our job while it is made: steps for the progress bar, and on cancel an interrupt
    sent only while *our* job runs (the WebUI's interrupt stops whatever runs, which may be
    another kiosk's job while ours waits in its queue). Servers without ``/internal/progress``
    (before 1.6) are followed through ``/sdapi/v1/progress`` and interrupted at once."""

    def __init__(self, backend: A1111Illustrator, url: str, task_id: str, steps: int,
                 on_step: StepCallback | None, cancel: CancelToken):
        self.backend, self.url, self.task_id, self.steps = backend, url, task_id, max(1, steps)
        self.on_step, self.cancel = on_step, cancel
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="gieok-a1111-progress", daemon=True)
        self.last_step = 0
        self.per_task = True  # the server answers /internal/progress about one task

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        deadline = time.monotonic() + float(self.backend.settings.remote_timeout_s)
        while not self._stop.wait(self.backend.poll_s) and time.monotonic() < deadline:
            state = self._task_state()
            if self.cancel.cancelled:
                if state is None or state.get("active"):
                    self._interrupt()
                    return
                if state.get("completed"):
                    return
                continue  # still queued behind someone else's job: interrupt ours when it starts
            if self.on_step is not None:
                self._report(state)

    def _task_state(self) -> dict | None:
        if not self.per_task:
            return None
        try:
            answer = self.backend.http.call("POST", self.url + "/internal/progress", timeout=5, retries=0,
                                            accept=(404, 405, 422), json={"id_task": self.task_id,
                                                                          "id_live_preview": -1, "live_preview": False})
            if answer.status_code != 200:
                self.per_task = False
                return None
            state = answer.json()
        except (BackendError, ValueError):
            return {}  # a missed poll: try again next time
        return state if isinstance(state, dict) else {}

    def _report(self, state: dict | None) -> None:
        if state is not None:
            step = round(float(state.get("progress") or 0.0) * self.steps) if state.get("active") else 0
            total = self.steps
        else:
            try:
                shared = self.backend.http.json("GET", self.url + "/sdapi/v1/progress?skip_current_image=true",
                                                timeout=5, retries=0).get("state", {})
            except (BackendError, AttributeError):
                return  # progress is a nicety; the picture's own request reports real failures
            step, total = int(shared.get("sampling_step") or 0), int(shared.get("sampling_steps") or 0)
        if total > 0 and step > self.last_step:
            self.last_step = step
            self.on_step(min(step, total), total, None)

    def _interrupt(self) -> None:
        try:
            self.backend.interrupt(self.url)
        except BackendError as exc:  # the job then runs to its end; its picture is thrown away
            log.warning("could not interrupt %s: %s", safe_url(self.url), exc)
