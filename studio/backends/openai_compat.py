"""Story writer on any OpenAI-compatible chat server (Ollama, llama.cpp server, vLLM, LM Studio).

Set ``GIEOK_OPENAI_BASE_URL`` (e.g. ``http://127.0.0.1:11434/v1`` for Ollama) and
``GIEOK_OPENAI_MODEL``. JSON mode (``response_format={"type": "json_object"}``) is the form these
servers share; the schema goes in the prompt and the answer is validated here. Answers are streamed,
with ``max_tokens`` and (for Ollama) ``num_ctx`` sized to the book (``llm_json.budget_for``); a
server that refuses either option is asked again without it, and an answer cut off by the server's
limits says so instead of failing as broken JSON.
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
        self._ctx_option = True
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
        budget = llm_json.budget_for(request, self.settings, 1 if schema is llm_json.PAGE_SCHEMA else None)

        def send() -> str:
            import openai

            while True:
                options = {"response_format": {"type": "json_object"}} if self._json_mode else {}
                if self._ctx_option:  # Ollama reads its context size here; other servers may refuse it
                    options["extra_body"] = {"options": {"num_ctx": budget.num_ctx}}
                try:
                    return self._streamed(client, chat, request, budget, options, cancel)
                except openai.BadRequestError as exc:
                    said = str(exc)
                    if self._json_mode and "response_format" in said:
                        self._json_mode = False  # an older server without JSON mode: the prompt asks for JSON
                    elif self._ctx_option and ("options" in said or "num_ctx" in said):
                        self._ctx_option = False
                    else:
                        raise

        return llm_json.with_retries(send, lambda exc: self._classify(exc, budget.timeout_s),
                                     self.settings.llm_retries, self.settings.llm_backoff_s, cancel)

    def _streamed(self, client, chat, request: StoryRequest, budget, options: dict, cancel) -> str:
        """The answer as it streams in: the time limit applies between pieces, so a long book that
        keeps coming is not cut off, and a server that stops answering is."""
        stream = client.chat.completions.create(model=self.settings.openai_model, messages=chat, temperature=0.9,
                                                seed=request.seed or None, max_tokens=budget.max_tokens,
                                                stream=True, timeout=budget.timeout_s, **options)
        parts, finish = [], None
        try:
            for chunk in stream:
                if cancel is not None and cancel.cancelled:
                    break
                for choice in chunk.choices or []:
                    parts.append(choice.delta.content or "" if choice.delta else "")
                    finish = choice.finish_reason or finish
        finally:
            stream.close()
        if cancel is not None:
            cancel.raise_if_cancelled()
        if finish == "length":  # cut off by max_tokens or the server's context window
            raise BackendError("writer.truncated", writer=self._who(), tokens=budget.max_tokens)
        return "".join(parts)

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

    def _classify(self, exc: BaseException, timeout_s: float = 0.0) -> llm_json.Verdict | None:
        import openai

        where = {"url": self.settings.openai_base_url}
        if isinstance(exc, openai.APITimeoutError):
            return True, "writer.local_timeout", {**where, "seconds": f"{timeout_s or self.settings.llm_timeout_s:g}"}
        if isinstance(exc, openai.APIConnectionError):
            return True, "writer.local_unreachable", where
        if isinstance(exc, openai.APIStatusError):
            code = exc.status_code
            if code == 429:
                return True, "writer.local_busy", {**where, "code": code}
            if code >= 500 or code == 408:
                return True, "writer.local_failed", {**where, "code": code}
            if code in (401, 403):
                return False, "writer.local_key_refused", {**where, "code": code}
            if code == 404:
                return False, "writer.local_no_model", {**where, "model": self.settings.openai_model}
            detail = str(getattr(exc, "message", "") or "")[:200]
            return False, "writer.local_refused", {"code": code, "detail": detail}
        return None
