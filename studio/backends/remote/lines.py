"""Which line a job waits in: this machine's one GPU, or the remote servers' own capacity.

A local model runs one job at a time (``concurrency_id="gpu"``, limit 1). A remote engine is a
pool of machines: with two WebUI servers, two families' pictures can be made at once, and four
kiosks sharing them should not wait in single file. A job goes to the remote line only when
every engine it may use runs elsewhere or is light work on this CPU (the storyteller, the
sketch, eSpeak...). One local model among them and it waits for the GPU as before.

    line = job_line(services.backends, "pictures", {"illustrator": "active"})
    button.click(..., concurrency_id=line.id, concurrency_limit=line.limit)
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

HF_CONCURRENCY = 4  # providers scale on their side; a visitor's quota is the real limit
# Engines that run here but need no GPU: they may run beside each other in a remote job.
LIGHT = {("writer", "storyteller"), ("writer", "gemini"), ("writer", "openai"), ("illustrator", "sketch"),
         ("speaker", "espeak"), ("speaker", "piper"), ("converter", "voice_match")}


@dataclass(frozen=True)
class JobLine:
    id: str  # Gradio's concurrency_id
    limit: int  # Gradio's concurrency_limit

    @property
    def remote(self) -> bool:
        return self.id.startswith("remote-")


GPU = JobLine("gpu", 1)  # pictures and training on this machine
VOICE = JobLine("voice", 1)  # narration on this machine: its own line, never behind a book of pictures


def pool_capacity(settings: Any, pool: Any) -> int:
    """A WebUI/ComfyUI pool: the setting, else one job per server (each makes one picture at a time)."""
    return max(1, int(settings.remote_concurrency or len(pool.workers)))


def capacity(backend: Any) -> int:
    """How many jobs a remote engine takes at once; 0 for an engine on this machine."""
    method = getattr(backend, "capacity", None)
    return int(method()) if callable(method) else 0


def job_line(backends: Any, name: str, uses: dict[str, str], local: JobLine = GPU) -> JobLine:
    """The line for jobs that use these kinds of engine. ``uses``: kind -> "active" (the active
    engine is used) or "any" (any available one may be: a voice's own speaker, the engine that
    made the picture being made again). ``local``: the line when any of them runs on this machine.
    Read when the app is built: Gradio fixes it then."""
    limits = []
    for kind, which in uses.items():
        for backend in _candidates(backends, kind, which):
            limit = capacity(backend)
            if limit:
                limits.append(limit)
            elif (kind, backend.name) not in LIGHT:
                return local
    return JobLine(f"remote-{name}", min(limits)) if limits else local


def _candidates(backends: Any, kind: str, which: str) -> list[Any]:
    if which == "active":
        active = backends.active_or_none(kind)
        return [active] if active is not None else []
    found = []
    for engine in backends.kinds.get(kind, {}):
        try:
            backend = backends.get(kind, engine)
            if backend.available().ok:
                found.append(backend)
        except Exception:  # a broken optional module is not a candidate (the registry logs it)
            continue
    return found
