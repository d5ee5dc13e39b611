"""Story writer on Google's Gemini API through the maintained ``google-genai`` SDK.

The key comes from ``GEMINI_API_KEY`` (or ``GOOGLE_API_KEY``) in the environment, never a file.
Answers are requested as JSON with the story schema; our own retry loop (not the SDK's) handles
429/5xx/timeouts with backoff so the cancel button is honoured between attempts.
"""
from __future__ import annotations

import threading

from studio.backends import llm_json
from studio.backends.base import Availability, BackendError, CancelToken, StoryRequest, missing_packages

KEY_HELP = ("Gemini needs an API key: set GEMINI_API_KEY (or GOOGLE_API_KEY) in the environment before "
            "starting the studio, e.g. `GEMINI_API_KEY=... python app.py`. Get a key at "
            "https://aistudio.google.com/apikey.")


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
        config = types.GenerateContentConfig(
            system_instruction=llm_json.system_prompt(request),
            response_mime_type="application/json",
            response_json_schema=schema,
            temperature=0.9,
            seed=request.seed or None,
        )

        def send() -> str:
            response = client.models.generate_content(model=self.settings.gemini_model, contents=contents,
                                                      config=config)
            return response.text or ""

        return llm_json.with_retries(send, self._classify, self.settings.llm_retries,
                                     self.settings.llm_backoff_s, cancel)

    def _get_client(self):
        key = self.settings.gemini_api_key()
        if not key:
            raise BackendError(KEY_HELP)
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

    def _classify(self, exc: BaseException) -> tuple[bool, str] | None:
        from google.genai import errors

        timeout = self.settings.llm_timeout_s
        if isinstance(exc, errors.APIError):
            code = exc.code
            detail = (exc.message or exc.status or "").strip()[:200]
            if code in (401, 403) or (code == 400 and "API key" in detail):
                return False, f"Gemini refused the API key ({code}). Check GEMINI_API_KEY. {detail}".strip()
            if code == 404:
                return False, (f"Gemini has no model '{self.settings.gemini_model}' (404). Set GIEOK_GEMINI_MODEL "
                               "to an available model such as gemini-2.5-flash.")
            if code == 429:
                return True, "Gemini is busy or the key's quota is used up (429). Please wait a minute and try again."
            if code >= 500 or code == 408:
                return True, f"Gemini had a server problem ({code}). Please try again in a moment."
            return False, f"Gemini could not write the story ({code}): {detail}"
        if llm_json.is_timeout(exc):
            return True, f"Gemini did not answer within {timeout:g} seconds. Please try again."
        if llm_json.is_connection_error(exc):
            return True, "Could not reach Gemini. Check the internet connection and try again."
        return None
