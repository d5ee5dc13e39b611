"""What every tab receives from the app shell, and small helpers tabs share.

This is not a tab: tabs import it, never each other. A tab module exposes ``TITLE`` (a catalogue
key) and ``build(ctx, tab)``; its words live in ``locales/<lang>/ui_<tab>.json``.

Two languages meet on a page: the *visitor's* (the browser's Accept-Language: buttons, status,
messages) and the *book's* (placeholders, sample sentences, consent wording). ``say`` speaks the
visitor's, ``messages.text(key, book.language)`` the book's.
"""
from __future__ import annotations

import contextvars
import functools
import html
import inspect
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import gradio as gr

from studio import lifecycle, messages
from studio.backends.base import BackendError, Cancelled
from studio.media import MediaError
from studio.messages import Localized
from studio.session_guard import request_visitor
from studio.services import Services
from studio.storage import StoreError
from studio.visitors import owner_matches

log = logging.getLogger("gieok.ui")


class Refused(Localized, ValueError):
    """A user action that cannot run now (no book open, no voice yet...): a message key + values."""


# Errors whose messages are written for users; anything else is logged and shown generically.
USER_ERRORS: tuple[type[BaseException], ...] = (Refused, StoreError, BackendError, MediaError, ValueError)

_visitor_language: contextvars.ContextVar[str] = contextvars.ContextVar("gieok_visitor_language",
                                                                       default=messages.DEFAULT_LANGUAGE)


@dataclass
class TabContext:
    services: Services
    owner: gr.State  # the visitor's owner id (made in demo.load), never chosen by the browser alone
    book_id: gr.State  # the open book's id, or None
    i18n: gr.I18n
    tabs: gr.Tabs | None = None  # the studio's tab strip, to move the visitor along (e.g. to "story")

    def t(self, key: str) -> Any:
        """A label the browser translates (UI chrome follows the visitor's language)."""
        return self.i18n(key)


# -- the visitor's language ------------------------------------------------------------------
def visitor_language() -> str:
    return _visitor_language.get()


def language_of_request(request: gr.Request | None) -> str:
    headers = getattr(request, "headers", None) or {}
    return messages.language_of(headers.get("accept-language"))


def say(key: str, **values: Any) -> str:
    """A message in the visitor's language (status lines, progress, warnings)."""
    return messages.text(key, visitor_language(), **values)


def message_of(exc: BaseException) -> str:
    """An error's message in the visitor's language (values that are messages themselves too)."""
    if not isinstance(exc, Localized):
        return str(exc)
    lang = visitor_language()
    values = getattr(exc, "values", {}) or {}
    if any(isinstance(v, Localized) for v in values.values()) and messages.has_key(exc.key):
        return messages.text(exc.key, lang, **{k: message_of(v) if isinstance(v, Localized) else v
                                               for k, v in values.items()})
    return exc.render(lang)


# -- one way for every handler to fail without breaking the page -------------------------------
def refuse(key: str, **values: Any):
    raise Refused(key, **values)


def _report(exc: BaseException, name: str) -> None:
    """Say why nothing happened, as a toast in the visitor's language; outputs stay as they were."""
    if isinstance(exc, gr.Error):
        warn(exc.message)
    elif isinstance(exc, Cancelled):
        gr.Info(toast_html(message_of(exc) or say("common.stopped")))
    elif isinstance(exc, USER_ERRORS):
        warn(message_of(exc))
    else:
        log.exception("internal error in %s", name)
        warn(say("common.internal_error"))


def toast_html(message: str) -> str:
    """A message as a toast's HTML: everything escaped (user words appear in messages), then the
    catalogue's `code names` shown as code rather than with their backticks."""
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", html.escape(message))


def warn(message: str) -> None:
    """One toast (Gradio renders its text as HTML)."""
    gr.Warning(toast_html(message))


def _split_request(args: tuple) -> tuple[str, tuple, gr.Request | None]:
    """Gradio passes the request first (see the wrapper's signature); Python callers don't."""
    if args and isinstance(args[0], gr.Request):
        return language_of_request(args[0]), args[1:], args[0]
    return visitor_language(), args, None


def user_errors(fn: Callable) -> Callable:
    """Run a handler in the visitor's language; a refused or failed action shows one message
    (``gr.Warning``) and returns ``gr.skip()``, so no output is put into an error state.

    The wrapper's signature starts with a ``gr.Request`` parameter, so Gradio fills it (Gradio
    fills special parameters only in positional places, so it cannot be a keyword); a handler
    receives it only when its own first parameter is annotated ``gr.Request``. Generators are
    wrapped step by step: Gradio runs each step in a fresh copy of the context, so the language
    is set again for every step."""
    signature = inspect.signature(fn)
    params = list(signature.parameters.values())
    pass_request = bool(params) and _is_request(params[0])

    def call_args(args):
        lang, rest, request = _split_request(args)
        return lang, ((request, *rest) if pass_request else rest)

    if inspect.isgeneratorfunction(fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            lang, rest = call_args(args)
            steps = None
            while True:
                token = _visitor_language.set(lang)
                failed = False
                try:  # nothing may be yielded inside: the next step runs in another context
                    if steps is None:
                        steps = fn(*rest, **kwargs)
                    item = next(steps)
                except StopIteration:
                    return
                except Exception as exc:  # noqa: BLE001 - every failure becomes one message
                    _report(exc, fn.__name__)
                    failed = True
                finally:
                    _visitor_language.reset(token)
                if failed:
                    yield gr.skip()
                    return
                yield item
    else:
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            lang, rest = call_args(args)
            token = _visitor_language.set(lang)
            try:
                return fn(*rest, **kwargs)
            except Exception as exc:  # noqa: BLE001 - every failure becomes one message
                _report(exc, fn.__name__)
                return gr.skip()
            finally:
                _visitor_language.reset(token)

    request_param = inspect.Parameter("gieok_request", inspect.Parameter.POSITIONAL_OR_KEYWORD,
                                      annotation=gr.Request)
    own = params[1:] if pass_request else params
    wrapper.__signature__ = signature.replace(parameters=[request_param, *own])
    wrapper.__annotations__ = {**getattr(fn, "__annotations__", {}), "gieok_request": gr.Request}
    return wrapper


def current_request() -> gr.Request | None:
    """The request of the event being handled (Gradio sets it for every call and every step of
    a generator, lambdas included, so no handler signature has to ask for it)."""
    from gradio.context import LocalContext

    return LocalContext.request.get(None)


def _is_request(param: inspect.Parameter) -> bool:
    return param.annotation in (gr.Request, "gr.Request", "gr.Request | None")


def require_owner(owner: str | None) -> str:
    """The visitor's owner id, checked against this call's own token/login (not only the
    ``gr.State`` filled at load, which follows the browser-chosen session hash)."""
    request = current_request()
    if not owner:
        refuse("common.no_session")
    if owner != "local" and not owner_matches(owner, *request_visitor(request)):
        refuse("spaces.session_taken")
    return owner


def require_book(book_id: str | None) -> str:
    if not book_id:
        refuse("common.no_book")
    return book_id


# -- pictures the browser can always load ------------------------------------------------------
def picture(services: Services, owner: str | None, ref: str | None, max_side: int | None = None) -> str | None:
    """A stable file for a stored picture: written once, atomically, under a name made from the
    picture's content reference. Handing Gradio PIL images made it rewrite the same cache file
    while a browser was still reading it (``Content-Length`` mismatch, broken thumbnails).
    The file lives where ``studio.lifecycle`` keeps the owner's served copies: private, swept by
    age, and removed with the picture, its book or its owner."""
    if not (owner and ref):
        return None
    media = services.store.media_for(owner)
    if not media.exists(ref):
        return None
    target = lifecycle.served_picture(services.store.data_dir, owner, ref, max_side)
    if target.exists():
        return str(target)
    from PIL import Image

    from studio.png_chunks import with_text

    if not max_side:  # the stored PNG without its text chunks (they name storage refs): no re-encoding
        bare = with_text(media.read_bytes(ref), "parameters", None)
        if bare is not None:
            return str(lifecycle.publish(target, lambda partial: partial.write_bytes(bare)))
    try:
        with Image.open(media.path(ref)) as img:
            img = img.convert("RGB")
            if max_side:
                img.thumbnail((max_side, max_side))
            lifecycle.publish(target, lambda partial: img.save(partial, format="PNG"))
    except OSError:
        log.warning("picture %s could not be read", ref)
        return None
    return str(target)


def let_go_of_uploads(paths) -> None:
    """After the studio has taken a visitor's uploads into her store (and cleared the upload box),
    remove the web server's own copies: her photos and recordings of her voice must not wait in
    the server's folder for its hourly clean-up, and the store is where they now live."""
    from gradio.utils import get_upload_folder

    root = Path(get_upload_folder())
    for path in paths or []:
        lifecycle.remove_upload_copy(path, root)


def next_button(ctx: TabContext, label_key: str, target_tab: str, visible: bool = False) -> gr.Button:
    """A hidden "next step" button that moves the visitor to ``target_tab``; a handler shows it
    (``gr.update(visible=True)``) once the step before it is done."""
    button = gr.Button(ctx.t(label_key), visible=visible, variant="primary",
                       elem_classes=["gieok-next"])
    if ctx.tabs is not None:
        button.click(lambda: gr.Tabs(selected=target_tab), None, ctx.tabs, api_visibility="private")
    return button


# A "next step" that has just appeared may be below the fold (a long form above it): a ``.then``
# with this script scrolls the shown one (in the open tab) into view.
# The page may paint the shown button a moment after this runs: it looks again for up to 3 s.
# Tabs not open stay laid out but hidden, so their next-step buttons are passed over.
REVEAL_NEXT_JS = """() => {
  let tries = 0;
  const reveal = () => {
    const next = [...document.querySelectorAll('.gieok-next')].find(el => el.offsetParent !== null
      && getComputedStyle(el).visibility !== 'hidden' && (!el.checkVisibility || el.checkVisibility()));
    if (next) next.scrollIntoView({block: 'nearest'});
    else if (++tries < 30) setTimeout(reveal, 100);
  };
  reveal();
}"""


def reveal_next(event) -> None:
    """After ``event`` (the ``.then`` that showed the next-step button), bring that button into view."""
    event.then(None, None, None, js=REVEAL_NEXT_JS, api_visibility="private")


# -- which engine does what, in plain words ----------------------------------------------------
def engine_name(kind: str, name: str) -> str:
    key = f"engine.{kind}.{name}"
    return say(key) if messages.has_key(key) else name


def engine_line(services: Services, kind: str) -> str:
    """"Pictures: pencil sketches (offline) — connect a picture model…": no setting names here
    (those live in the Settings tab's details)."""
    active = services.backends.active_or_none(kind)
    if active is None:
        return say(f"line.{kind}.none") if messages.has_key(f"line.{kind}.none") else say("engine.none")
    own = f"line.{kind}.{active.name}"
    if messages.has_key(own):
        return say(own)
    return say(f"line.{kind}.other", engine=engine_name(kind, active.name))


# -- where a visitor's picture or narration waits ------------------------------------------------
# Two local lines, one job at a time each: pictures and training on "gpu", narration on "voice" (its
# models are small beside a picture model), so a page read aloud never waits for a whole book of
# pictures. On ZeroGPU both still ask for their GPU through ``studio.zerogpu``. Jobs whose engines
# all run elsewhere wait in their pool's own "remote-..." line instead (``queue_line``).
GPU_LINE = dict(concurrency_id="gpu", concurrency_limit=1)
VOICE_LINE = dict(concurrency_id="voice", concurrency_limit=1)
LINES = (GPU_LINE["concurrency_id"], VOICE_LINE["concurrency_id"])


def queue_line(services: Services, name: str, uses: dict[str, str], local: dict[str, Any] | None = None) -> dict[str, Any]:
    """A listener's ``concurrency_id``/``concurrency_limit``: the local line (``GPU_LINE`` unless
    given, one at a time), or, when every engine these jobs use is remote, that pool's own line (as
    many as it has workers). ``uses``: kind -> "active" | "any" (``studio.backends.remote.lines.job_line``)."""
    from studio.backends.remote.lines import JobLine, job_line

    local = local or GPU_LINE
    line = job_line(services.backends, name, uses, JobLine(local["concurrency_id"], local["concurrency_limit"]))
    return dict(concurrency_id=line.id, concurrency_limit=line.limit)


def place_in_line(queue: Any, session_hash: str | None, concurrency_id: str = "gpu") -> int | None:
    """How many jobs of one line are ahead of this visitor's first waiting job there (the
    running ones included), or None when the visitor has nothing waiting in it. Reads Gradio's own
    queue (``demo._queue``): the waiting events of that concurrency group, in order."""
    lines = getattr(queue, "event_queue_per_concurrency_id", None) or {}
    line = lines.get(concurrency_id)
    if line is None or not session_hash:
        return None
    waiting = list(getattr(line, "queue", []))
    mine = next((i for i, event in enumerate(waiting) if getattr(event, "session_hash", None) == session_hash), None)
    if mine is None:
        return None
    return mine + int(getattr(line, "current_concurrency", 0))


def soonest_place(queue: Any, session_hash: str | None) -> int | None:
    """The visitor's place in whichever line (local or a remote pool's) their next job comes soonest
    (None: nothing waits)."""
    lines = getattr(queue, "event_queue_per_concurrency_id", None) or {}
    ids = [*LINES, *sorted(k for k in lines if str(k).startswith("remote-"))]
    places = [p for line in ids if (p := place_in_line(queue, session_hash, line)) is not None]
    return min(places) if places else None


def line_notice(queue: Any, session_hash: str | None) -> Any:
    """The notice under the header while the visitor waits: "2 pictures or readings are being made
    before yours", counted in the line their job waits in, hidden when nothing of theirs waits."""
    ahead = soonest_place(queue, session_hash)
    if ahead is None:
        return gr.update(visible=False)
    return gr.update(value=say("common.waiting", ahead=ahead), visible=True)
