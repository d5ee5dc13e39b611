"""Story writer on Google's Gemini API through the maintained ``google-genai`` SDK.

The key comes from ``GEMINI_API_KEY`` (or ``GOOGLE_API_KEY``) in the environment, never a file.
Answers are requested as JSON with the story schema; our own retry loop (not the SDK's) handles
429/5xx/timeouts with backoff so the cancel button is honoured between attempts.
"""
from __future__ import annotations

import threading

from studio.backends import llm_json
from studio.backends.base import Availability, BackendError, CancelToken, StoryRequest, missing_packages



class GeminiWriter(llm_json.SchemaWriter):
    name = "gemini"
    label = "Gemini"

    def __init__(self, settings):
        self.settings = settings
        self._client = None
        self._client_key: tuple[str, str] | None = None
        self._lock = threading.Lock()

    def available(self) -> Availability:
        if missing_packages("google.genai"):
            return Availability.no("avail.needs_packages", packages="google-genai")
        if not self.settings.gemini_api_key():
            return Availability.no("avail.gemini_no_key")
        return Availability.yes("avail.gemini_ready", model=self.settings.gemini_model)

    # -- the call ----------------------------------------------------------------------------
    def _ask(self, messages: llm_json.Messages, request: StoryRequest, schema: dict,
             cancel: CancelToken | None) -> str:
        from google.genai import types

        client = self._get_client()
        contents = [types.Content(role="model" if role == "assistant" else "user", parts=[types.Part(text=text)])
                    for role, text in messages]
        budget = llm_json.budget_for(request, self.settings, 1 if schema is llm_json.PAGE_SCHEMA else None)
        config = types.GenerateContentConfig(
            system_instruction=llm_json.system_prompt(request),
            response_mime_type="application/json",
            response_json_schema=schema,
            temperature=0.9,
            seed=request.seed or None,
            max_output_tokens=budget.max_tokens,
            http_options=types.HttpOptions(timeout=int(budget.timeout_s * 1000)),  # scaled with the book
        )

        def send() -> str:
            """The answer as it streams in (``streamGenerateContent``): a long book keeps coming
            piece by piece instead of waiting for one answer at the end."""
            parts, finish = [], None
            for chunk in client.models.generate_content_stream(model=self.settings.gemini_model, contents=contents,
                                                               config=config):
                if cancel is not None and cancel.cancelled:
                    break
                parts.append(chunk.text or "")
                for candidate in chunk.candidates or []:
                    finish = candidate.finish_reason or finish
            if cancel is not None:
                cancel.raise_if_cancelled()
            if finish is not None and str(getattr(finish, "value", finish)) == "MAX_TOKENS":
                raise BackendError("writer.truncated", writer=self.label, tokens=budget.max_tokens)
            return "".join(parts)

        return llm_json.with_retries(send, lambda exc: self._classify(exc, budget.timeout_s),
                                     self.settings.llm_retries, self.settings.llm_backoff_s, cancel)

    def _get_client(self):
        key = self.settings.gemini_api_key()
        if not key:
            raise BackendError("writer.gemini_no_key")
        with self._lock:
            wanted = (key, self.settings.gemini_base_url)
            if self._client is None or self._client_key != wanted:
                from google import genai
                from google.genai import types

                options = types.HttpOptions(
                    timeout=int(self.settings.llm_timeout_s * 1000),  # milliseconds
                    retry_options=types.HttpRetryOptions(attempts=1),  # our loop retries
                    base_url=self.settings.gemini_base_url or None,
                )
                self._client, self._client_key = genai.Client(api_key=key, http_options=options), wanted
            return self._client

    def _classify(self, exc: BaseException, timeout_s: float = 0.0) -> llm_json.Verdict | None:
        from google.genai import errors

        if isinstance(exc, errors.APIError):
            code = exc.code
            detail = (exc.message or exc.status or "").strip()[:200]
            if code in (401, 403) or (code == 400 and "API key" in detail):
                return False, "writer.gemini_key_refused", {"code": code, "detail": detail}
            if code == 404:
                return False, "writer.gemini_no_model", {"model": self.settings.gemini_model}
            if code == 429:
                return True, "writer.gemini_busy", {"code": code}
            if code >= 500 or code == 408:
                return True, "writer.gemini_failed", {"code": code}
            return False, "writer.gemini_refused", {"code": code, "detail": detail}
        if llm_json.is_timeout(exc):
            return True, "writer.gemini_timeout", {"seconds": f"{timeout_s or self.settings.llm_timeout_s:g}"}
        if llm_json.is_connection_error(exc):
            return True, "writer.gemini_unreachable", {}
        return None
