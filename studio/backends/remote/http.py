"""One HTTP client per remote backend (httpx, kept alive across pages) that turns transport
failures and error answers into the studio's messages, with bounded retries for busy servers."""
from __future__ import annotations

import threading
from typing import Any

from studio.backends.base import BackendError, CancelToken
from studio.backends.remote.common import WorkerDown, retrying, safe_url, status_error


class RemoteHTTP:
    def __init__(self, service: str, settings: Any) -> None:
        self.service = service
        self.settings = settings
        self._client = None
        self._lock = threading.Lock()

    def client(self):
        with self._lock:
            if self._client is None:
                import httpx

                self._client = httpx.Client(follow_redirects=False, trust_env=False,
                                            limits=httpx.Limits(max_connections=64))
            return self._client

    def call(self, method: str, url: str, *, cancel: CancelToken | None = None, model: str = "",
             timeout: float | None = None, retries: int | None = None, accept: tuple[int, ...] = (),
             **kwargs: Any):
        """The answer to one request; 429/503 are tried again with backoff, connection
        failures and 5xx raise ``WorkerDown`` (a pool moves on), others a clear ``BackendError``
        (error statuses in ``accept`` are returned for the caller to read)."""
        import httpx

        limit = float(timeout if timeout is not None else self.settings.remote_timeout_s)
        timeouts = httpx.Timeout(limit, connect=min(limit, 10.0))

        def send():
            try:
                response = self.client().request(method, url, timeout=timeouts, **kwargs)
            except (httpx.ConnectError, httpx.ConnectTimeout, httpx.RemoteProtocolError, httpx.ReadError,
                    httpx.WriteError) as exc:
                raise WorkerDown("remote.server_down", service=self.service, address=safe_url(url)) from exc
            except httpx.TimeoutException as exc:
                raise BackendError("remote.timeout", service=self.service) from exc
            if response.status_code >= 400 and response.status_code not in accept:
                raise status_error(response.status_code, self.service, model, _detail(response))
            return response

        tries = self.settings.remote_retries if retries is None else retries
        return retrying(send, tries, self.settings.remote_backoff_s, cancel)

    def json(self, method: str, url: str, **kwargs: Any) -> Any:
        response = self.call(method, url, **kwargs)
        try:
            return response.json()
        except ValueError:
            raise BackendError("remote.bad_answer", service=self.service) from None

    def close(self) -> None:
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None


def _detail(response) -> str:
    """A short reason from an error body (JSON 'error'/'detail', else text)."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:200]
    if isinstance(body, dict):
        for key in ("error", "detail", "message", "errors"):
            value = body.get(key)
            if isinstance(value, dict):
                value = value.get("message") or value.get("type")
            if value:
                return str(value)[:200]
    return str(body)[:200]
