"""GPU turns on Hugging Face ZeroGPU, sized from the job.

On a ZeroGPU Space a GPU is attached only while a ``spaces.GPU`` function runs, for at most the
``duration`` it asked for; asking too much costs the visitor's quota and queue place, too little
kills the job. So every GPU call here asks for::

    overhead + units × seconds-per-unit × margin      (clamped to [min, max] seconds)

where *units* come from the job (illustration: denoising steps × picture area / 512², more with
ControlNet, less with img2img strength) and *seconds-per-unit* starts from
``Settings.gpu_seconds_per_step`` and follows the turns actually measured (a moving average).
A call that cannot fit in the longest turn is refused with a message saying what to change.

Long jobs run as windows that each fit one turn: the whole-book illustration calls the GPU once
per page, or per batch of pages sharing a call (no more than one turn can finish), and saves
each page as its call ends, so a turn that ends (or a visitor who leaves) loses at most one
call's pages and the job resumes at the next page not done (``illustrate.pages_to_illustrate``).

ZeroGPU runs the function in a *forked* worker and pickles its arguments and result: callbacks
and cancel tokens cannot cross. ``GpuFunction`` therefore passes ``local=`` arguments (progress
callback, cancel token) only when running in-process; on ZeroGPU progress is per page and cancel
takes effect between pages. One dispatcher is decorated at start-up (:func:`activate`), as
ZeroGPU expects, and finds the real function by name in the forked worker.

Elsewhere (local, CPU Spaces, a dedicated GPU) functions run directly; nothing imports ``spaces``.
"""
from __future__ import annotations

import importlib.util
import logging
import math
import os
import threading
import time
from typing import Any, Callable

from studio.backends.base import BackendError

log = logging.getLogger(__name__)

MARGIN = 1.25  # ask a quarter more than the estimate: a killed turn loses the page
SMOOTHING = 0.3  # weight of the newest measurement in the seconds-per-unit average
BASE_PIXELS = 512 * 512

_registry: dict[str, Callable] = {}
_clocks: dict[str, "GpuClock"] = {}
_lock = threading.Lock()
_dispatch: Callable | None = None  # the spaces.GPU-decorated dispatcher, once activated
_in_turn = threading.local()  # set while a registered function runs in its GPU turn


class GpuClock:
    """Seconds-per-unit for one kind of GPU work, refined by measured turns."""

    def __init__(self, seconds_per_unit: float, overhead_s: float, min_s: float, max_s: float) -> None:
        self.seconds_per_unit = float(seconds_per_unit)
        self.overhead_s, self.min_s, self.max_s = float(overhead_s), float(min_s), float(max_s)
        self.measured = 0
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Any) -> "GpuClock":
        from studio.config import Settings

        values = [getattr(settings, name, getattr(Settings, name)) for name in
                  ("gpu_seconds_per_step", "gpu_overhead_s", "gpu_min_duration_s", "gpu_max_duration_s")]
        return cls(*values)

    def needed(self, units: float) -> float:
        return self.overhead_s + units * self.seconds_per_unit * MARGIN

    def duration(self, units: float) -> int:
        """The turn to ask for, whole seconds in [min, max]."""
        return int(min(self.max_s, max(self.min_s, math.ceil(self.needed(units)))))

    def check_fits(self, units: float) -> None:
        needed = self.needed(units)
        if needed > self.max_s:
            raise BackendError("spaces.gpu_turn_too_long", needed=math.ceil(needed), limit=int(self.max_s))

    def record(self, units: float, elapsed_s: float) -> None:
        """A measured turn: ``elapsed_s`` of GPU work for ``units`` (the overhead taken out)."""
        if units <= 0:
            return
        observed = max(0.0, elapsed_s - self.overhead_s) / units
        with self._lock:
            if self.measured == 0:  # the first turn also pays loading: trust it only halfway
                self.seconds_per_unit = (self.seconds_per_unit + observed) / 2
            else:
                self.seconds_per_unit += SMOOTHING * (observed - self.seconds_per_unit)
            self.measured += 1


def on_zerogpu() -> bool:
    """A Space (``SPACE_ID``) where the ``spaces`` package is installed."""
    return bool(os.environ.get("SPACE_ID")) and importlib.util.find_spec("spaces") is not None


def activate() -> bool:
    """Decorate the dispatcher with ``spaces.GPU`` (call at start-up, before torch touches CUDA)."""
    global _dispatch
    if not on_zerogpu():
        return False
    with _lock:
        if _dispatch is None:
            import spaces

            _dispatch = spaces.GPU(duration=_turn_seconds)(_run_registered)
    return True


def clock(name: str, settings: Any) -> GpuClock:
    with _lock:
        if name not in _clocks:
            _clocks[name] = GpuClock.from_settings(settings)
        return _clocks[name]


class GpuFunction:
    """``fn`` run on the GPU for ``units_of(*args)`` units of work (see module doc).

    ``call(*args, local={...})``: ``local`` keyword arguments (callbacks, cancel tokens) are
    given only when ``fn`` runs in this process."""

    def __init__(self, name: str, fn: Callable, units_of: Callable[..., float], settings: Any) -> None:
        self.name = f"{name}:{id(fn.__self__) if hasattr(fn, '__self__') else id(fn)}"
        self.fn, self.units_of = fn, units_of
        self.clock = clock(name, settings)
        with _lock:
            _registry[self.name] = fn  # before any GPU turn forks a worker that must find it

    def __call__(self, *args: Any, local: dict[str, Any] | None = None, **kwargs: Any) -> Any:
        units = float(self.units_of(*args, **kwargs))
        if activate() and not getattr(_in_turn, "active", False):  # inside a turn already: run in it
            self.clock.check_fits(units)
            result, elapsed = _dispatch(self.name, units, args, kwargs)
        else:
            start = time.monotonic()
            result = self.fn(*args, **kwargs, **(local or {}))
            elapsed = time.monotonic() - start
        self.clock.record(units, elapsed)
        return result


def _turn_seconds(name: str, units: float, args: tuple, kwargs: dict) -> int:
    """ZeroGPU's dynamic duration: called with the dispatcher's own arguments."""
    return _clocks[name.split(":", 1)[0]].duration(units)


def _run_registered(name: str, units: float, args: tuple, kwargs: dict) -> tuple[Any, float]:
    """Runs inside the GPU worker: the registered function, and how long it took there."""
    fn = _registry.get(name)
    if fn is None:  # a worker forked before this model was set up; the next turn forks afresh
        raise BackendError("spaces.gpu_worker_stale")
    start = time.monotonic()
    _in_turn.active = True  # e.g. a training window's sample narration: GPU work within this turn
    try:
        result = fn(*args, **kwargs)
    finally:
        _in_turn.active = False
    return result, time.monotonic() - start


def illustration_units(request: Any, seeds: Any = None, *_: Any, **__: Any) -> float:
    """Denoising work in 512² steps, for each picture (one per seed): img2img runs ``strength``
    of the steps, ControlNet adds its own network (about 40% more per step)."""
    spec = request.spec
    steps = spec.steps * (spec.strength if getattr(request, "init_image", None) is not None else 1.0)
    area = max(1, spec.width * spec.height) / BASE_PIXELS
    control = 1.4 if getattr(request, "control_image", None) is not None else 1.0
    pictures = len(seeds) if isinstance(seeds, (list, tuple)) and seeds else 1
    return max(1.0, steps) * area * control * pictures
