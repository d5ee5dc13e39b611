"""Which pictures can share one Stable Diffusion call, and how their inputs are put together.

A call denoises a batch with ONE pipeline (text2img / img2img, one ControlNet kind), one size,
step count, guidance, scheduler, strength, ControlNet strength/range and set of LoRA weights;
within it every picture keeps its own prompt embeddings, control map or starting photo, and
seed (a generator per picture), so a batched picture is the one its page makes alone.

``call_key`` groups requests by those shared settings; ``embed_signature`` splits a group
further when the prompt embeddings differ in shape (compel makes a long prompt longer than 77
tokens, and padding a short one to match would change its picture); ``join_embeddings``
stacks one group's embeddings in request order.
"""
from __future__ import annotations

from typing import Any, Sequence

from studio.backends.base import IllustrationRequest


def control_kind(request: IllustrationRequest) -> str:
    return request.spec.control.kind if request.control_image is not None else "none"


def pipeline_key(request: IllustrationRequest) -> tuple[bool, str]:
    """(img2img, ControlNet kind): which derived pipeline runs the request."""
    return request.init_image is not None, control_kind(request)


def call_key(request: IllustrationRequest) -> tuple:
    """Everything one pipeline call shares; requests with equal keys may be denoised together."""
    spec = request.spec
    img2img, kind = pipeline_key(request)
    control = (float(spec.control.scale), float(spec.control.start), float(spec.control.end)) if kind != "none" else ()
    weights = {choice.ref: float(choice.weight) for choice in spec.loras}
    loras = tuple(sorted((str(path), weights.get(ref, 0.8)) for ref, path in request.lora_paths.items()))
    return (img2img, kind, int(spec.width), int(spec.height), int(spec.steps), float(spec.guidance),
            spec.scheduler, float(spec.strength) if img2img else None, control, loras)


def group_requests(requests: Sequence[IllustrationRequest], seed_counts: Sequence[int]) -> list[list[int]]:
    """Indices of requests that may share a call, first-come order kept. Several requests share a
    call only with one picture each (a page each) and without a reference photo (IP-Adapter's
    inputs are per call, not per picture)."""
    groups: dict[tuple, list[int]] = {}
    for index, (request, count) in enumerate(zip(requests, seed_counts)):
        alone = count != 1 or request.reference_image is not None
        groups.setdefault(("alone", index) if alone else call_key(request), []).append(index)
    return list(groups.values())


def embed_signature(kwargs: dict[str, Any]) -> tuple:
    """Names and shapes of one prompt's embedding tensors (equal signatures can be stacked)."""
    return tuple(sorted((name, tuple(value.shape[1:])) for name, value in kwargs.items()))


def split_by_embeddings(encoded: Sequence[dict[str, Any]]) -> list[list[int]]:
    groups: dict[tuple, list[int]] = {}
    for index, kwargs in enumerate(encoded):
        groups.setdefault(embed_signature(kwargs), []).append(index)
    return list(groups.values())


def join_embeddings(encoded: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """One batch of embeddings, request after request (all signatures equal)."""
    if len(encoded) == 1:
        return dict(encoded[0])
    import torch

    return {name: torch.cat([kwargs[name] for kwargs in encoded]) for name in encoded[0]}


def call_kwargs(requests: Sequence[IllustrationRequest], seeds: Sequence[int], embeddings: dict[str, Any],
                width: int, height: int) -> dict[str, Any]:
    """The pipeline's inputs for one call: ``seeds`` request after request, one generator each
    (diffusers lays out each prompt's pictures together), a control map / starting photo each."""
    import torch

    spec, first = requests[0].spec, requests[0]
    kwargs: dict[str, Any] = dict(
        **embeddings, num_images_per_prompt=len(seeds) // len(requests),
        num_inference_steps=int(spec.steps), guidance_scale=float(spec.guidance),
        generator=[torch.Generator(device="cpu").manual_seed(int(seed)) for seed in seeds])

    def pictures(images):  # one picture, or a batch (a list) of them
        images = [image.convert("RGB").resize((width, height)) for image in images]
        return images[0] if len(images) == 1 else images

    if first.init_image is not None:
        kwargs.update(image=pictures([r.init_image for r in requests]), strength=float(spec.strength))
    else:
        kwargs.update(width=width, height=height)
    if first.control_image is not None:
        kwargs["control_image" if first.init_image is not None else "image"] = \
            pictures([r.control_image for r in requests])
        kwargs.update(controlnet_conditioning_scale=float(spec.control.scale),
                      control_guidance_start=float(spec.control.start),
                      control_guidance_end=float(spec.control.end))
    return kwargs


def page_batch_size(settings: Any, placement: Any, spec: Any) -> int:
    """``Settings.page_batch`` when set, else what the device's memory allows; on ZeroGPU no more
    pages than one GPU turn can finish."""
    from studio import zerogpu
    from studio.backends.torch_device import choose_placement, pages_per_call

    size = int(getattr(settings, "page_batch", 0) or 0)
    if size <= 0:
        try:
            placement = placement or choose_placement(getattr(settings, "device", "auto"))
        except Exception:  # the device is checked, with its message, when the model loads
            return 1
        size = pages_per_call(placement.device, placement.total_memory, int(spec.width), int(spec.height))
    if zerogpu.on_zerogpu():
        clock = zerogpu.clock("illustrate_pages", settings)
        one = zerogpu.illustration_units(IllustrationRequest(spec=spec, prompt=""), [0])
        while size > 1 and clock.needed(one * size) > clock.max_s:
            size -= 1
    return max(1, size)


def page_units(requests: Sequence[IllustrationRequest], seeds: Any = None, *_: Any, **__: Any) -> float:
    """GPU work of a batch of pages (one picture each), in ``zerogpu.illustration_units``' units."""
    from studio.zerogpu import illustration_units

    return sum(illustration_units(request, [0]) for request in requests)
