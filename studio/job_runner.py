"""What every resumable training job shares: checkpoints, progress with an ETA, cancel, windows.

A job (a voice, a LoRA) keeps ``step``, ``elapsed_s`` (seconds spent training, summed over every
run) and a loss ``history`` in its checkpoint, so after a restart the percentage and the time left
(elapsed / steps done x steps left) carry on where they were instead of starting over.

``ResumableJob`` is the step loop every training job runs on: the LoRA trainer's plain sequence of
steps, and the voice trainer's epochs (a step takes the next batch; the epoch's end follows its last
step in ``after_step``, and its checkpoint keeps its own fields through ``save_checkpoint`` /
``resume``).

torch is imported inside the functions that need it (``import studio`` stays light).
"""
from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any, Callable, Iterator

from studio.backends.base import CancelToken, Cancelled
from studio.jobs import Progress

CHECKPOINT = "checkpoint.pt"


def save_checkpoint(path: str | Path, state: dict) -> Path:
    """Write ``state`` with torch.save to a temp file and rename it over ``path``: a crash or a
    full disk mid-write leaves the previous checkpoint whole (and no temp file behind)."""
    import torch

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    try:
        torch.save(state, tmp)
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def load_checkpoint(path: str | Path, map_location: Any = "cpu") -> dict | None:
    """The saved state, None when there is none; tensors only (``weights_only``: never unpickles code).
    Raises whatever torch raises on a damaged file: the caller turns it into its own message."""
    import torch

    path = Path(path)
    if not path.is_file():
        return None
    return torch.load(str(path), map_location=map_location, weights_only=True)


def eta_seconds(elapsed_s: float, done: int, total: int) -> float | None:
    if done <= 0:
        return None
    return elapsed_s / done * max(0, total - done)


def progress_event(kind: str, message: str, step: int, total_steps: int, elapsed_s: float,
                   **payload: Any) -> Progress:
    """One progress event: ``payload`` carries event/step/total/percent/elapsed/eta plus extras."""
    eta = eta_seconds(elapsed_s, step, total_steps)
    data = {"event": kind, "message": message, "step": step, "total_steps": total_steps,
            "percent": round(100.0 * step / total_steps, 1) if total_steps else 0.0,
            "elapsed_s": round(elapsed_s, 2), "eta_s": None if eta is None else round(eta, 1), **payload}
    values = {k: v for k, v in data.items() if isinstance(v, (int, float, str))}  # the message's placeholders
    return Progress(step, total_steps, message, data, values)


def rising(values: list[float], patience: int) -> bool:
    """The overtraining rule: the last ``patience`` values each rose over the one before."""
    return patience > 0 and len(values) > patience and all(
        values[-i] > values[-i - 1] for i in range(1, patience + 1))


class ResumableJob:
    """A training job as ``total_steps`` steps: subclasses implement ``train_step`` (one optimiser
    step, returns named float losses), ``job_state``/``restore_job_state`` (their weights,
    optimiser and data order) and ``identity`` (what must match for a checkpoint to be ours).

    ``run`` yields ``Progress`` events (``step``, ``paused``, ``done`` and whatever ``after_step``
    yields: samples, evaluations), saves a checkpoint every ``save_every`` steps, at the end of a
    ``max_steps`` window (a ZeroGPU slot) and on cancel (then raises ``Cancelled``).
    """

    # message keys per event, set by each job in its own catalogue area: step, paused, done,
    # cancelled, checkpoint_unreadable, checkpoint_other_data
    messages: dict[str, str] = {}

    def __init__(self, workdir: str | Path, total_steps: int, save_every: int,
                 refuse: Callable[[str], Exception]):
        self.workdir = Path(workdir)
        self.total_steps = int(total_steps)
        self.save_every = max(1, int(save_every))
        self._refuse = refuse  # makes the job's own error for a message key
        self.step = 0
        self.elapsed_s = 0.0
        self.history: dict[str, Any] = {"loss": [], "val": [], "overtrain_warned": False}

    # -- for subclasses -----------------------------------------------------------------------
    def train_step(self) -> dict[str, float]:
        raise NotImplementedError

    def job_state(self) -> dict:
        raise NotImplementedError

    def restore_job_state(self, state: dict) -> None:
        raise NotImplementedError

    def identity(self) -> dict:
        """Plain values (options, data fingerprint) that a checkpoint must match to be resumed."""
        return {}

    def after_step(self) -> Iterator[Progress]:
        return iter(())

    # -- checkpoints ------------------------------------------------------------------------------
    @property
    def checkpoint_path(self) -> Path:
        return self.workdir / CHECKPOINT

    def save_checkpoint(self) -> Path:
        state = {"identity": self.identity(), "step": self.step, "elapsed_s": self.elapsed_s,
                 "history": self.history, "job": self.job_state()}
        return save_checkpoint(self.checkpoint_path, state)

    def checkpoint_matches(self) -> bool | None:
        """None: no checkpoint; True: it is this job's; False: it was saved for other data/settings."""
        try:
            state = load_checkpoint(self.checkpoint_path, "cpu")
        except Exception:
            raise self._refuse(self.messages["checkpoint_unreadable"]) from None
        return None if state is None else state.get("identity") == self.identity()

    def resume(self, map_location: Any = "cpu") -> bool:
        """Continue from the checkpoint in ``workdir`` if there is one (False: starting fresh)."""
        try:
            state = load_checkpoint(self.checkpoint_path, map_location)
        except Exception:
            raise self._refuse(self.messages["checkpoint_unreadable"]) from None
        if state is None:
            return False
        if state.get("identity") != self.identity():
            raise self._refuse(self.messages["checkpoint_other_data"])
        self.restore_job_state(state["job"])
        self.step, self.elapsed_s = int(state["step"]), float(state["elapsed_s"])
        self.history = state["history"]
        return True

    # -- the loop ---------------------------------------------------------------------------------
    def event(self, kind: str, message: str | None = None, **payload: Any) -> Progress:
        return progress_event(kind, message or self.messages.get(kind, kind), self.step, self.total_steps,
                              self.elapsed_s, **payload)

    def overtraining(self, key: str = "val", patience: int = 3) -> bool:
        return rising([v["value"] for v in self.history[key]], patience)

    def run(self, cancel: CancelToken | None = None, max_steps: int | None = None) -> Iterator[Progress]:
        ran, last_save = 0, self.step
        while self.step < self.total_steps:
            if cancel is not None and cancel.cancelled:
                self.save_checkpoint()
                raise Cancelled(self.messages["cancelled"])
            if max_steps is not None and ran >= max_steps:
                self.save_checkpoint()
                yield self.event("paused")
                return
            started = time.perf_counter()
            losses = self.train_step()
            self.step += 1
            ran += 1
            self.elapsed_s += time.perf_counter() - started
            self.history["loss"].append({"step": self.step, **losses})
            if self.step - last_save >= self.save_every:
                self.save_checkpoint()
                last_save = self.step
            yield self.event("step", losses=losses)
            yield from self.after_step()
        self.save_checkpoint()
        yield self.event("done")
