"""Hugging Face inference (``huggingface_hub.InferenceClient``): pictures, speech and stories
without a GPU here.

The token is the visitor's own (Spaces login through OAuth, so each family spends its own
allowance) or the Space's ``HF_TOKEN``. It is passed per job through ``Credentials`` and lives
in a client made for that one call: the backend objects, shared by every visitor, hold none.
Providers do not promise the same picture for the same seed, so ``reproducible`` is False.
``GIEOK_HF_BASE_URL`` points every model at ``{url}/models/{model id}`` (a dedicated endpoint, a
local server, or the tests' fake); otherwise calls go through the provider router.
"""
from __future__ import annotations

import io
import logging
from typing import Any, Callable, TypeVar

from studio.backends import llm_json
from studio.backends.base import (
    Audio, Availability, BackendError, CancelToken, IllustrationRequest, PageDraft, StepCallback,
    StoryDraft, StoryRequest, missing_packages,
)
from studio.backends.remote.common import (
    Credentials, Transient, abandon_on_cancel, png_bytes, refuse_if_filtered, retrying, safe_url, status_error,
)

log = logging.getLogger(__name__)
SERVICE = "Hugging Face"
ROUTER = "https://router.huggingface.co"
T = TypeVar("T")


class _HFClient:
    """Token choice, client construction and error translation shared by the three backends."""

    takes_credentials = True
    reproducible = False
    service = SERVICE  # the name visitors know it by ("Hugging Face")

    def __init__(self, settings: Any) -> None:
        self.settings = settings

    def _needs(self, model_setting: str) -> Availability:
        if missing_packages("huggingface_hub"):
            return Availability.no("avail.needs_packages", packages="huggingface_hub")
        model = getattr(self.settings, model_setting)
        if not model:
            return Availability.no("avail.hf_no_model", setting=f"GIEOK_{model_setting.upper()}")
        from huggingface_hub import constants

        if constants.is_offline_mode():
            return Availability.no("avail.hf_offline")
        return Availability.yes("avail.hf_ready_token" if self.settings.hf_token() else "avail.hf_ready", model=model,
                                via=safe_url(self.settings.hf_base_url) or self.settings.hf_provider)

    def capacity(self) -> int:
        """Jobs at once (the app's remote line): providers scale, so the setting or a few."""
        from studio.backends.remote.lines import HF_CONCURRENCY

        return max(1, int(self.settings.remote_concurrency or HF_CONCURRENCY))

    def token_for(self, credentials: Credentials | None) -> str:
        """The visitor's token first (their own quota), else the Space's; never a cached login."""
        if credentials is not None and credentials.hf_token:
            return credentials.hf_token
        token = self.settings.hf_token()
        if not token:
            raise BackendError("remote.login_needed")
        return token

    def check(self, credentials: Credentials | None) -> None:
        """Settings' test button: is the token accepted (whoami, no inference spent)?"""
        from huggingface_hub import HfApi

        token = self.token_for(credentials)
        endpoint = self.settings.hf_base_url.rstrip("/") or None
        self._translated(lambda: HfApi(endpoint=endpoint).whoami(token=token), "whoami")

    def client(self, model: str, credentials: Credentials | None):
        from huggingface_hub import InferenceClient

        token = self.token_for(credentials)
        base = self.settings.hf_base_url.rstrip("/")
        if base:
            return InferenceClient(model=f"{base}/models/{model}", token=token, timeout=self.settings.remote_timeout_s)
        return InferenceClient(model=model, provider=self.settings.hf_provider or "auto", token=token,
                               timeout=self.settings.remote_timeout_s)

    def call(self, send: Callable[[], T], model: str, cancel: CancelToken | None) -> T:
        """``send()`` with our messages for every failure, retries for busy answers, and cancel:
        a cancelled call is left to finish on its own and its answer is thrown away."""
        def attempt() -> T:
            return abandon_on_cancel(lambda: self._translated(send, model), cancel)

        return retrying(attempt, self.settings.remote_retries, self.settings.remote_backoff_s, cancel)

    def _translated(self, send: Callable[[], T], model: str) -> T:
        from huggingface_hub.errors import HfHubHTTPError, InferenceTimeoutError, OfflineModeIsEnabled

        address = safe_url(self.settings.hf_base_url or ROUTER)
        try:
            return send()
        except OfflineModeIsEnabled:
            raise BackendError("remote.server_down", service=SERVICE, address=address) from None
        except InferenceTimeoutError:
            raise BackendError("remote.timeout", service=SERVICE) from None
        except HfHubHTTPError as exc:  # from None: the library's text names the request, not our business
            code = exc.response.status_code if exc.response is not None else 0
            raise status_error(code, SERVICE, model) from None
        except Exception as exc:  # the client's own httpx fork: told apart by class names
            if llm_json.is_timeout(exc):
                raise BackendError("remote.timeout", service=SERVICE) from None
            if llm_json.is_connection_error(exc):
                raise Transient("remote.server_down", service=SERVICE, address=address) from None
            raise


# -- pictures -------------------------------------------------------------------------------------
class HFIllustrator(_HFClient):
    name = "hf"
    label = "Hugging Face inference (pictures)"

    @property
    def source(self) -> str:  # "Model:" in the picture's parameters
        return self.settings.hf_image_model

    def available(self) -> Availability:
        return self._needs("hf_image_model")

    def illustrate(self, request: IllustrationRequest, on_step: StepCallback | None = None,
                   cancel: CancelToken | None = None, credentials: Credentials | None = None):
        spec = request.spec
        if request.control_image is not None and spec.control.kind != "none":
            raise BackendError("remote.controlnet_missing", service=SERVICE, kind=spec.control.kind)
        if spec.loras:  # providers serve one model per call: a LoRA is its own model id there
            raise BackendError("remote.lora_missing", service=SERVICE, name=spec.loras[0].name or spec.loras[0].ref)
        photo = request.init_image is not None
        model = self.settings.hf_image2image_model if photo else self.settings.hf_image_model
        if not model:
            raise BackendError("remote.no_model", service=SERVICE,
                               what="remote.what_photo" if photo else "remote.what_picture")
        client = self.client(model, credentials)
        flux = "flux" in model.lower()  # FLUX has no negative prompt and wants sides in steps of 16
        side = 16 if flux else 8
        common = dict(negative_prompt=None if flux else (request.negative_prompt or None),
                      num_inference_steps=int(spec.steps), guidance_scale=float(spec.guidance))
        if on_step:
            on_step(0, 1, None)  # one call, no steps to watch: "started", then "done"
        if photo:
            data = png_bytes(request.init_image)
            send = lambda: client.image_to_image(data, request.prompt, strength=float(spec.strength),  # noqa: E731
                                                 seed=int(spec.seed), **common)
        else:
            send = lambda: client.text_to_image(request.prompt, width=spec.width // side * side,  # noqa: E731
                                                height=spec.height // side * side, seed=int(spec.seed), **common)
        image = self.call(send, model, cancel).convert("RGB")
        refuse_if_filtered(image, SERVICE)
        if on_step:
            on_step(1, 1, None)
        return image


# -- speech ---------------------------------------------------------------------------------------
class HFSpeaker(_HFClient):
    name = "hf"
    label = "Hugging Face inference (speech)"
    knobs = ()

    def available(self) -> Availability:
        ko, en = self._needs("hf_tts_model_ko"), self._needs("hf_tts_model_en")
        return ko if ko.ok or not en.ok else en

    def supports(self, language: str) -> bool:
        return bool(self._model(language))

    def _model(self, language: str) -> str:
        return {"ko": self.settings.hf_tts_model_ko, "en": self.settings.hf_tts_model_en}.get(language, "")

    def speak(self, text: str, language: str, credentials: Credentials | None = None,
              cancel: CancelToken | None = None, **options: Any) -> Audio:
        model = self._model(language)
        if not model:
            raise BackendError("remote.language_missing", service=SERVICE, language=language)
        client = self.client(model, credentials)
        data = self.call(lambda: client.text_to_speech(text), model, cancel)
        return decode_audio(data)


def decode_audio(data: bytes) -> Audio:
    """WAV/FLAC/OGG bytes -> mono float32 ``Audio`` (MP3 through soundfile when libsndfile has it)."""
    import numpy as np
    import soundfile as sf

    try:
        samples, rate = sf.read(io.BytesIO(data), dtype="float32", always_2d=True)
    except (RuntimeError, TypeError, ValueError, sf.LibsndfileError):
        raise BackendError("remote.audio_unreadable", service=SERVICE) from None
    if samples.size == 0:
        raise BackendError("remote.audio_unreadable", service=SERVICE)
    return Audio(np.ascontiguousarray(samples.mean(axis=1), dtype=np.float32), int(rate))


# -- stories --------------------------------------------------------------------------------------
class HFWriter(_HFClient):
    name = "hf"
    label = "Hugging Face inference (story)"

    def available(self) -> Availability:
        return self._needs("hf_chat_model")

    def write_story(self, request: StoryRequest, cancel: CancelToken | None = None,
                    credentials: Credentials | None = None) -> StoryDraft:
        return llm_json.write_story_repairing(
            lambda m: self._ask(m, request, cancel, credentials),
            lambda pages, i: self.rewrite_page(request, pages, i, cancel, credentials), request, self.label, cancel)

    def rewrite_page(self, request: StoryRequest, pages: list[PageDraft], index: int,
                     cancel: CancelToken | None = None, credentials: Credentials | None = None) -> PageDraft:
        return llm_json.ask_validated(lambda m: self._ask(m, request, cancel, credentials, pages=1),
                                      llm_json.page_messages(request, pages, index),
                                      lambda raw: llm_json.to_page(llm_json.parse_json(raw)), self.label, cancel)

    def _ask(self, messages: llm_json.Messages, request: StoryRequest, cancel: CancelToken | None,
             credentials: Credentials | None, pages: int | None = None) -> str:
        model = self.settings.hf_chat_model
        if not model:
            raise BackendError("remote.no_model", service=SERVICE, what="remote.what_story")
        client = self.client(model, credentials)
        chat = [{"role": "system", "content": llm_json.system_prompt(request)}]
        chat += [{"role": role, "content": text} for role, text in messages]

        budget = llm_json.budget_for(request, self.settings, pages)

        def send() -> str:
            answer = client.chat_completion(chat, model=None if self.settings.hf_base_url else model,
                                            temperature=0.9, seed=request.seed or None, max_tokens=budget.max_tokens)
            if not answer.choices:
                return ""
            if answer.choices[0].finish_reason == "length":  # cut off by the token limit
                raise BackendError("writer.truncated", writer=self.label, tokens=budget.max_tokens)
            return answer.choices[0].message.content or ""

        return self.call(send, model, cancel)
