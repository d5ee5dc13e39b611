"""Story writer on any OpenAI-compatible chat server (Ollama, llama.cpp server, vLLM, LM Studio).

Set ``GIEOK_OPENAI_BASE_URL`` (e.g. ``http://127.0.0.1:11434/v1`` for Ollama) and
``GIEOK_OPENAI_MODEL``. JSON mode (``response_format={"type": "json_object"}``) is the form these
servers share; the schema goes in the prompt and the answer is validated here.
"""
from __future__ import annotations

import threading

from studio.backends import llm_json
from studio.backends.base import Availability, BackendError, CancelToken, StoryRequest, missing_packages


class OpenAICompatWriter(llm_json.SchemaWriter):
    name = "openai"
    label = "Local model (OpenAI-compatible server)"

    def __init__(self, settings):
        self.settings = settings
        self._client = None
        self._client_url = ""
        self._json_mode = True
        self._lock = threading.Lock()

    def available(self) -> Availability:
        if missing_packages("openai"):
            return Availability.no("avail.needs_packages", packages="openai")
        if not self.settings.openai_base_url:
            return Availability.no("avail.openai_unset")
        return Availability.yes("avail.openai_ready", model=self.settings.openai_model, url=self.settings.openai_base_url)

    def _who(self) -> str:
        return f"The local model ({self.settings.openai_model})"

    def _ask(self, messages: llm_json.Messages, request: StoryRequest, schema: dict,
             cancel: CancelToken | None) -> str:
        client = self._get_client()
        chat = [{"role": "system", "content": llm_json.system_prompt(request)}]
        chat += [{"role": role, "content": text} for role, text in messages]

        def send() -> str:
            import openai

            options = {"response_format": {"type": "json_object"}} if self._json_mode else {}
            try:
                response = client.chat.completions.create(model=self.settings.openai_model, messages=chat,
                                                          temperature=0.9, seed=request.seed or None, **options)
            except openai.BadRequestError as exc:
                if not options or "response_format" not in str(exc):
                    raise
                self._json_mode = False  # an older server without JSON mode: the prompt asks for JSON
                response = client.chat.completions.create(model=self.settings.openai_model, messages=chat,
                                                          temperature=0.9, seed=request.seed or None)
            if not response.choices:
                return ""
            return response.choices[0].message.content or ""

        return llm_json.with_retries(send, self._classify, self.settings.llm_retries,
                                     self.settings.llm_backoff_s, cancel)

    def _get_client(self):
        url = self.settings.openai_base_url
        if not url:
            raise BackendError("error.no_model_server")
        with self._lock:
            if self._client is None or self._client_url != url:
                import openai

                self._client = openai.OpenAI(base_url=url, api_key=self.settings.openai_api_key or "not-needed",
                                             timeout=self.settings.llm_timeout_s, max_retries=0)
                self._client_url = url
            return self._client

    def _classify(self, exc: BaseException) -> tuple[bool, str] | None:
        import openai

        url = self.settings.openai_base_url
        if isinstance(exc, openai.APITimeoutError):
            return True, f"The local model at {url} did not answer within {self.settings.llm_timeout_s:g} seconds."
        if isinstance(exc, openai.APIConnectionError):
            return True, f"Could not reach the local model server at {url}. Is it running?"
        if isinstance(exc, openai.APIStatusError):
            code = exc.status_code
            if code == 429:
                return True, f"The local model server at {url} is busy (429). Please try again shortly."
            if code >= 500 or code == 408:
                return True, f"The local model server at {url} had a problem ({code}). Please try again."
            if code in (401, 403):
                return False, f"The server at {url} refused the key ({code}); set GIEOK_OPENAI_API_KEY."
            if code == 404:
                return False, (f"The server at {url} has no model '{self.settings.openai_model}' (404); "
                               "set GIEOK_OPENAI_MODEL to a model it serves.")
            detail = str(getattr(exc, "message", "") or "")[:200]
            return False, f"The local model server refused the request ({code}): {detail}"
        return None
