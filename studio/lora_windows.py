"""A LoRA training (a person's likeness or a style) in windows that each fit one shared-GPU turn.

On ZeroGPU a GPU is lent for one call of at most a few minutes, so the Likeness tab never runs a
whole training in one call: it runs ``window_steps`` steps, the trainer saves its checkpoint and
says "paused", and the next window resumes from it, until the training is done. Each window on
ZeroGPU is one ``zerogpu.GpuFunction`` call (:func:`run_window`, events handed back when the turn
ends; cancel acts between windows); elsewhere the same loop runs in-process when
``Settings.train_window_steps`` asks for windows, so the behaviour can be seen without a Space.

    for event in train_in_windows(lambda steps: job(steps), 50, cancel):
        ...   # setup once, steps 1..N, "window" between turns, then done/attached/registered
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Iterator

from studio.backends.base import CancelToken
from studio.jobs import Progress


@dataclass
class LoraJob:
    """What one window trains: a person (``request`` a LikenessRequest for ``book_id``) or a
    style (a StyleRequest). Plain data, so it crosses into a ZeroGPU worker."""
    owner: str
    book_id: str
    request: Any
    subject: str = "person"


def run_job(services, job: LoraJob, cancel: CancelToken | None = None,
            max_steps: int | None = None) -> Iterator[Progress]:
    """One run of the job's trainer, ``max_steps`` steps at most (None: to the end)."""
    if job.subject == "style":
        from studio.style_training import train_style_lora

        return train_style_lora(services, job.owner, job.request, cancel, max_steps)
    from studio.likeness import train_character_lora

    return train_character_lora(services, job.owner, job.book_id, job.request, cancel, max_steps)


def run_window(services, job: LoraJob, max_steps: int | None, cancel: CancelToken | None = None) -> list[Progress]:
    """One window as a plain call (what a GPU turn runs): its events as a list."""
    return list(run_job(services, job, cancel, max_steps))


def window_units(job: LoraJob, max_steps: int | None, *_: Any, **__: Any) -> float:
    """The work of one window for the GPU clock: its training steps."""
    return float(max_steps or job.request.options.steps)


def train_in_windows(window: Callable[[int | None], Iterable[Progress]], window_steps: int | None,
                     cancel: CancelToken | None = None) -> Iterator[Progress]:
    """Run ``window(window_steps)`` again and again until a window does not end "paused"; the
    family sees one training: the setup said once, a "window" event between turns, no pauses.
    Without ``window_steps`` it is one plain run."""
    turns = 0
    while True:
        if cancel is not None and turns:
            cancel.raise_if_cancelled()  # the last window left a checkpoint: nothing is lost
        paused, last = False, None
        for event in window(window_steps):
            kind = event.payload.get("event")
            if turns and kind == "setup":
                continue  # the first window said it
            if kind == "paused" and window_steps:
                paused, last = True, event
                continue
            yield event
        turns += 1
        if not paused:
            return
        data = last.payload
        yield Progress(last.done, last.total, "likeness.train_next_window",
                       {**data, "event": "window", "window": turns}, {"step": data["step"], "window": turns})


def window_steps_for(services, gpu_window: Any = None) -> int | None:
    """Steps per window: what fits one GPU turn on ZeroGPU, the setting's number elsewhere (0: none)."""
    if gpu_window is not None:
        from studio.train_voice.session import steps_per_turn  # the same rule as a voice's windows

        return steps_per_turn(gpu_window.clock)
    steps = int(getattr(services.settings, "train_window_steps", 0) or 0)
    return steps if steps > 0 else None


def gpu_window_for(services) -> Any:
    """On ZeroGPU, the GPU function that runs one window per turn; None elsewhere."""
    from studio import zerogpu

    if not zerogpu.on_zerogpu():
        return None
    return zerogpu.GpuFunction("train_lora", functools.partial(run_window, services), window_units, services.settings)


def train(services, job: LoraJob, cancel: CancelToken | None = None, gpu_window: Any = None) -> Iterator[Progress]:
    """The tab's one call: the whole training, in windows when they are needed."""
    steps = window_steps_for(services, gpu_window)
    if gpu_window is not None:
        def window(n):
            return gpu_window(job, n, local={"cancel": cancel})
    else:
        def window(n):
            return run_job(services, job, cancel, n)
    return train_in_windows(window, steps, cancel)
