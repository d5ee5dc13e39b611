"""Fake remote engines on 127.0.0.1 speaking the real wire formats: the A1111/Forge WebUI API,
the Hugging Face inference API (as the real InferenceClient calls it) and ComfyUI (HTTP + a
websocket). Each records what it received so tests can assert on requests and headers."""
from __future__ import annotations

import base64
import io
import json
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
from fastapi import FastAPI, Request, UploadFile, WebSocket, WebSocketDisconnect  # the fake ComfyUI
from fastapi.responses import JSONResponse, Response
from PIL import Image


def png_bytes(color=(200, 120, 60), size=(64, 64)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, format="PNG")
    return buffer.getvalue()


def wav_bytes(seconds: float = 0.3, sr: int = 16000) -> bytes:
    import soundfile as sf

    t = np.arange(int(seconds * sr)) / sr
    buffer = io.BytesIO()
    sf.write(buffer, (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32), sr, format="WAV")
    return buffer.getvalue()


class FakeServer:
    """A threaded HTTP server; subclasses answer in ``handle(method, path, body, headers)`` with
    (status, content-type, bytes). ``fail`` forces an answer: a status code, "black" or "slow"."""

    def __init__(self):
        self.seen: list[dict] = []
        self.fail: list = []  # answers to give first, one per request to the main route
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            wbufsize = 1 << 16  # headers and body leave in one write (no Nagle/delayed-ACK stall)

            def log_message(self, *args):
                pass

            def _serve(self, method):
                raw = self.rfile.read(int(self.headers.get("Content-Length", 0) or 0))
                fake.seen.append({"method": method, "path": self.path, "raw": raw, "headers": dict(self.headers)})
                status, kind, data = fake.handle(method, self.path, raw, dict(self.headers))
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", kind)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:  # the client gave up (timeout tests)
                    pass

            def do_GET(self):
                self._serve("GET")

            def do_POST(self):
                self._serve("POST")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def handle(self, method, path, raw, headers):  # pragma: no cover - overridden
        return 404, "application/json", b"{}"

    def close(self):
        self.server.shutdown()
        self.server.server_close()

    def requests_to(self, fragment: str) -> list[dict]:
        return [s for s in self.seen if fragment in s["path"]]


def _json(status, obj):
    return status, "application/json", json.dumps(obj).encode()


class FakeA1111(FakeServer):
    """``/sdapi/v1/txt2img`` etc. A picture takes ``step_s`` per step; progress and interrupt work."""

    def __init__(self, step_s: float = 0.0, loras=("watercolor",), legacy: bool = False, full_size: bool = False):
        self.step_s = step_s
        self.full_size = full_size  # answer a picture of the asked size, as the WebUI encodes it (bench)
        self._pictures: dict[tuple[int, int], str] = {}
        self.made: list[tuple[float, float]] = []
        self.legacy = legacy  # a WebUI before 1.6: no /internal/progress
        self.pending: list[str] = []
        self.current: str | None = None
        self.finished: list[str] = []
        self.interrupted_tasks: list[str | None] = []
        self.loras = list(loras)
        self.state = {"sampling_step": 0, "sampling_steps": 0, "job_count": 0}
        self.interrupted = threading.Event()
        self.interrupts = 0
        self.gpu = threading.Lock()  # like the WebUI: one picture at a time, the others wait
        super().__init__()

    def handle(self, method, path, raw, headers):
        if path.startswith("/sdapi/v1/progress"):
            return _json(200, {"progress": 0.0, "eta_relative": 0.0, "state": dict(self.state),
                               "current_image": None, "textinfo": None})
        if path == "/sdapi/v1/interrupt":  # stops whatever runs now, like the real one
            self.interrupts += 1
            self.interrupted_tasks.append(self.current)
            self.interrupted.set()
            return _json(200, {})
        if path == "/internal/progress" and not self.legacy:
            task = json.loads(raw).get("id_task")
            active = task == self.current
            steps = max(1, self.state.get("sampling_steps") or 1)
            return _json(200, {"active": active, "queued": task in self.pending, "completed": task in self.finished,
                               "progress": self.state.get("sampling_step", 0) / steps if active else None,
                               "eta": None, "live_preview": None, "id_live_preview": -1, "textinfo": None})
        if path == "/sdapi/v1/loras":
            return _json(200, [{"name": n, "alias": n, "path": f"/m/Lora/{n}.safetensors", "metadata": {}}
                               for n in self.loras])
        if path == "/sdapi/v1/sd-models":
            return _json(200, [{"title": "sd15.safetensors [6ce0161689]", "model_name": "sd15",
                                "hash": "6ce0161689", "filename": "/m/sd15.safetensors"}])
        if path in ("/sdapi/v1/txt2img", "/sdapi/v1/img2img"):
            if self.fail:
                answer = self.fail.pop(0)
                if answer == "black":
                    return _json(200, {"images": [base64.b64encode(png_bytes((0, 0, 0))).decode()],
                                       "parameters": {}, "info": "{}"})
                if answer == "slow":
                    time.sleep(3)
                    answer = 200
                if answer != 200:
                    return _json(answer, {"error": "fake", "detail": f"fake failure {answer}"})
            body = json.loads(raw)
            steps = int(body.get("steps", 20))
            task = body.get("force_task_id")
            self.pending.append(task)
            with self.gpu:
                started = time.monotonic()
                self.pending.remove(task)
                self.current = task
                self.interrupted.clear()
                for i in range(steps):
                    self.state = {"sampling_step": i + 1, "sampling_steps": steps, "job_count": 1}
                    if self.step_s:
                        time.sleep(self.step_s)
                    if self.interrupted.is_set():
                        break  # the WebUI returns what it has after an interrupt
                self.state = {"sampling_step": 0, "sampling_steps": 0, "job_count": 0}
                self.current = None
                self.finished.append(task)
                self.made.append((started, time.monotonic()))  # when this server worked on each picture
            info = {"seed": body.get("seed"), "sampler_name": body.get("sampler_name"), "steps": steps}
            first = (self._picture(int(body.get("width", 512)), int(body.get("height", 512))) if self.full_size
                     else base64.b64encode(png_bytes()).decode())
            return _json(200, {"images": [first,
                                          base64.b64encode(png_bytes((255, 255, 255))).decode()],
                               "parameters": body, "info": json.dumps(info)})
        return _json(404, {"detail": "Not Found"})

    def _picture(self, width: int, height: int) -> str:
        """A picture with real detail (compresses like a painting, not like a flat colour), saved
        the way the WebUI's API does: PNG with its own ``parameters`` chunk. Made once per size; the
        compression level differs from the studio's, so a second encoding would show in the bytes."""
        if (width, height) not in self._pictures:
            from PIL import ImageFilter
            from PIL.PngImagePlugin import PngInfo

            rng = np.random.default_rng(width * 7919 + height)
            small = Image.fromarray((rng.random((height // 8, width // 8, 3)) * 255).astype(np.uint8))
            picture = small.resize((width, height), Image.Resampling.BICUBIC).filter(ImageFilter.GaussianBlur(2))
            info = PngInfo()
            info.add_text("parameters", "fake webui picture\nSteps: 20, Seed: 1")
            buffer = io.BytesIO()
            picture.save(buffer, format="PNG", pnginfo=info, compress_level=3)
            self._pictures[(width, height)] = base64.b64encode(buffer.getvalue()).decode()
        return self._pictures[(width, height)]

    def bodies(self, route="/sdapi/v1/txt2img") -> list[dict]:
        return [json.loads(s["raw"]) for s in self.requests_to(route)]


def refuse_connections_url() -> str:
    """An address where nothing listens (a stopped GPU box)."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"


class FakeHF(FakeServer):
    """The Hugging Face inference API as ``InferenceClient`` calls a model URL: ``POST
    /models/<id>`` with ``{"inputs", "parameters"}`` answered with image or audio bytes, and
    ``POST /models/<id>/v1/chat/completions`` answered with chat-completion JSON."""

    def __init__(self, tasks: dict[str, str], chat_reply: str = "{}"):
        self.tasks = dict(tasks)  # model id -> "text-to-image" | "image-to-image" | "text-to-speech" | "chat"
        self.chat_reply = chat_reply
        self.users: dict[str, str] = {}  # accepted token -> user name
        self.delay_s = 0.0
        self.varies, self.pictures = False, 0
        super().__init__()

    def handle(self, method, path, raw, headers):
        if path == "/api/whoami-v2":  # the Hub's "who is this token" (Settings' test button)
            user = self.users.get((headers.get("authorization") or "").removeprefix("Bearer "))
            return _json(200, {"type": "user", "name": user}) if user else _json(401, {"error": "Invalid credentials"})
        if self.fail:
            answer = self.fail.pop(0)
            if answer == "black":
                return 200, "image/png", png_bytes((0, 0, 0))
            if answer == "slow":
                time.sleep(3)
            elif answer != 200:
                return _json(answer, {"error": f"fake failure {answer}"})
        if self.delay_s:
            time.sleep(self.delay_s)
        model = path.removeprefix("/models/").removesuffix("/v1/chat/completions")
        task = self.tasks.get(model)
        if task is None:
            return _json(404, {"error": f"Model {model} does not exist"})
        if path.endswith("/v1/chat/completions"):
            return _json(200, {"id": "c1", "object": "chat.completion", "created": 0, "model": model,
                               "system_fingerprint": "fake",
                               "choices": [{"index": 0, "finish_reason": "stop", "logprobs": None,
                                            "message": {"role": "assistant", "content": self.chat_reply}}],
                               "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}})
        if task in ("text-to-image", "image-to-image"):
            self.pictures += 1  # ``varies``: a provider that answers the same settings differently
            return 200, "image/png", png_bytes((90, 160, (220 + 9 * self.pictures) % 256 if self.varies else 220))
        if task == "text-to-speech":
            return 200, "audio/wav", wav_bytes()
        return _json(400, {"error": "unknown task"})

    def bodies(self) -> list[dict]:
        return [json.loads(s["raw"]) for s in self.seen if s["raw"]]

    def authorizations(self) -> list[str]:
        return [s["headers"].get("authorization") or s["headers"].get("Authorization") for s in self.seen]


class FakeComfyUI:
    """ComfyUI's HTTP routes and its websocket on one port (FastAPI + uvicorn, both installed with
    Gradio): validates the queued workflow like ComfyUI does, runs it step by step, streams
    ``progress``/``executing``/``executed`` to the client, honours ``/interrupt`` and ``/queue``."""

    KNOWN = {"CheckpointLoaderSimple", "LoraLoader", "CLIPTextEncode", "EmptyLatentImage", "LoadImage",
             "ControlNetLoader", "ControlNetApplyAdvanced", "KSampler", "VAEDecode", "VAEEncode", "SaveImage"}

    def __init__(self, step_s: float = 0.0, queue_s: float = 0.0):
        import asyncio
        import socket

        import uvicorn

        self.step_s, self.queue_s = step_s, queue_s
        self.checkpoints, self.loras = ["sd15.safetensors"], ["watercolor.safetensors"]
        self.controlnets = ["control_v11p_sd15_openpose.pth"]
        self.uploads: dict[str, bytes] = {}
        self.prompts: dict[str, dict] = {}
        self.history: dict[str, dict] = {}
        self.interrupts: list[dict] = []
        self.deletes: list[str] = []
        self.fail: list = []  # per queued prompt: an HTTP status for /prompt, "error" or "black"
        self.clients: dict[str, tuple] = {}
        self._interrupted = threading.Event()
        self.black = False
        fake = self
        app = FastAPI()

        @app.post("/upload/image")
        async def upload(image: UploadFile, request: Request):
            fake.uploads[image.filename] = await image.read()
            return {"name": image.filename, "subfolder": "", "type": "input"}

        @app.post("/prompt")
        async def prompt(request: Request):
            body = await request.json()
            if fake.fail and isinstance(fake.fail[0], int):
                status = fake.fail.pop(0)
                return JSONResponse({"error": {"type": "fake", "message": f"fake {status}"}}, status_code=status)
            errors = fake.validate(body["prompt"])
            if errors:
                return JSONResponse({"error": {"type": "prompt_outputs_failed_validation",
                                               "message": "Prompt outputs failed validation", "details": ""},
                                     "node_errors": errors}, status_code=400)
            prompt_id = str(uuid.uuid4())
            fake.prompts[prompt_id] = body
            threading.Thread(target=fake.run, args=(prompt_id, body), daemon=True).start()
            return {"prompt_id": prompt_id, "number": len(fake.prompts), "node_errors": {}}

        @app.post("/interrupt")
        async def interrupt(request: Request):
            raw = await request.body()
            fake.interrupts.append(json.loads(raw) if raw else {})
            fake._interrupted.set()
            return Response(status_code=200)

        @app.post("/queue")
        async def queue(request: Request):
            fake.deletes += (await request.json()).get("delete", [])
            return Response(status_code=200)

        @app.get("/history/{prompt_id}")
        async def history(prompt_id: str):
            return {prompt_id: fake.history[prompt_id]} if prompt_id in fake.history else {}

        @app.get("/view")
        async def view(filename: str, subfolder: str = "", type: str = "output"):
            return Response(png_bytes((0, 0, 0) if fake.black else (70, 140, 90)), media_type="image/png")

        @app.get("/object_info/CheckpointLoaderSimple")
        async def object_info():
            return {"CheckpointLoaderSimple": {"input": {"required": {"ckpt_name": [fake.checkpoints, {}]}},
                                               "output": ["MODEL", "CLIP", "VAE"]}}

        @app.websocket("/ws")
        async def ws(websocket: WebSocket, clientId: str = ""):
            await websocket.accept()
            fake.clients[clientId] = (websocket, asyncio.get_running_loop())
            await websocket.send_text(json.dumps({"type": "status", "data": {
                "status": {"exec_info": {"queue_remaining": 0}}, "sid": clientId}}))
            try:
                while True:
                    await websocket.receive_text()
            except WebSocketDisconnect:
                fake.clients.pop(clientId, None)

        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        self._server = uvicorn.Server(uvicorn.Config(app, log_level="warning", ws="websockets-sansio"))
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [sock]}, daemon=True)
        self._thread.start()
        while not self._server.started:
            time.sleep(0.01)

    def validate(self, workflow: dict) -> dict:
        errors = {}
        for node_id, node in workflow.items():
            problems = []
            inputs = node.get("inputs", {})
            if node.get("class_type") not in self.KNOWN:
                problems.append(("invalid_prompt", f"Cannot execute because node {node.get('class_type')} "
                                                   "does not exist."))
            for name, value in inputs.items():
                if isinstance(value, list) and len(value) == 2 and value[0] not in workflow:
                    problems.append(("missing_input", f"{name}: node {value[0]} is missing"))
            for field, allowed in (("ckpt_name", self.checkpoints), ("lora_name", self.loras),
                                   ("control_net_name", self.controlnets), ("image", list(self.uploads))):
                if field in inputs and isinstance(inputs[field], str) and inputs[field] not in allowed:
                    problems.append(("value_not_in_list", f"{field}: '{inputs[field]}' not in {allowed}"))
            if problems:
                errors[node_id] = {"errors": [{"type": t, "message": "Value not in list" if t == "value_not_in_list"
                                               else t, "details": d} for t, d in problems],
                                   "dependent_outputs": [], "class_type": node.get("class_type")}
        return errors

    def send(self, client_id: str, message) -> None:
        import asyncio

        socket_loop = self.clients.get(client_id)
        if socket_loop is None:
            return
        websocket, loop = socket_loop
        send = websocket.send_bytes(message) if isinstance(message, bytes) else websocket.send_text(json.dumps(message))
        try:
            asyncio.run_coroutine_threadsafe(send, loop).result(timeout=5)
        except Exception:  # the client left
            pass

    def run(self, prompt_id: str, body: dict) -> None:
        client, workflow = body.get("client_id", ""), body["prompt"]
        failure = self.fail.pop(0) if self.fail else None
        end = time.monotonic() + self.queue_s
        while time.monotonic() < end:  # waiting in the queue behind other jobs
            if prompt_id in self.deletes:
                return
            time.sleep(0.01)
        self._interrupted.clear()
        sampler = next(k for k, n in workflow.items() if n["class_type"] == "KSampler")
        steps = int(workflow[sampler]["inputs"]["steps"])
        self.send(client, {"type": "execution_start", "data": {"prompt_id": prompt_id, "timestamp": 0}})
        self.send(client, {"type": "executing", "data": {"node": sampler, "display_node": sampler,
                                                         "prompt_id": prompt_id}})
        self.send(client, {"type": "progress", "data": {"value": 1, "max": 99, "prompt_id": "someone-else",
                                                        "node": sampler}})
        if failure == "error":
            self.send(client, {"type": "execution_error", "data": {
                "prompt_id": prompt_id, "node_id": sampler, "node_type": "KSampler",
                "exception_message": "CUDA out of memory", "exception_type": "torch.OutOfMemoryError",
                "traceback": [], "current_inputs": {}, "current_outputs": {}}})
            return
        for i in range(steps):
            if self._interrupted.is_set():
                self.send(client, {"type": "execution_interrupted", "data": {
                    "prompt_id": prompt_id, "node_id": sampler, "node_type": "KSampler", "executed": []}})
                return
            if self.step_s:
                time.sleep(self.step_s)
            self.send(client, {"type": "progress", "data": {"value": i + 1, "max": steps, "prompt_id": prompt_id,
                                                            "node": sampler}})
            self.send(client, b"\x00\x00\x00\x01\x00\x00\x00\x02preview")
        save = next(k for k, n in workflow.items() if n["class_type"] == "SaveImage")
        images = [{"filename": f"gieok_{prompt_id[:8]}.png", "subfolder": "", "type": "output"}]
        self.black = failure == "black"
        self.history[prompt_id] = {"prompt": [0, prompt_id, workflow, {}, [save]],
                                   "outputs": {save: {"images": images}},
                                   "status": {"status_str": "success", "completed": True, "messages": []}}
        self.send(client, {"type": "executed", "data": {"node": save, "display_node": save,
                                                        "output": {"images": images}, "prompt_id": prompt_id}})
        self.send(client, {"type": "executing", "data": {"node": None, "prompt_id": prompt_id}})

    def close(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=5)


# -- a book to illustrate -------------------------------------------------------------------------
def remote_book(services, pages: int = 4, pose: bool = True, lora_weight: float | None = 0.7, steps: int = 6,
                seed: int = 1234, width: int = 256, height: int = 256, negative: str = ""):
    """A book of ``pages`` pages, each with the hugging pose (openpose), the watercolor LoRA and a
    locked seed, so every remote backend gets the same page to draw."""
    from studio.book import Character, LoraChoice, Page

    created = services.store.create("local", "Persimmon", page_count=4)

    def fill(book):
        book.characters = [Character(name="Halmeoni", description="a small grandmother")]
        book.pages = [Page(text=f"p{i}", illustration_prompt=f"picking persimmons {i}", characters=["Halmeoni"])
                      for i in range(pages)]
        for page in book.pages:
            if pose:
                page.image.control.kind, page.image.control.pose_id = "openpose", "hugging"
            if lora_weight is not None:
                page.image.loras = [LoraChoice(ref="watercolor.safetensors", weight=lora_weight,
                                               name="watercolor.safetensors")]
            page.image.steps, page.image.seed, page.image.seed_locked = steps, seed, True
            page.image.width, page.image.height, page.image.negative_prompt = width, height, negative

    return services.store.update("local", created.id, fill)


def variant_count(services, book_id: str) -> int:
    return sum(len(p.variants) for p in services.store.get("local", book_id).pages)
