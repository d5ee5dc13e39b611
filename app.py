"""Gieok Studio (기억): turn memories of someone you love into an illustrated, narrated book.

    python app.py            # http://127.0.0.1:7860, offline defaults when no weights/keys exist
"""
from __future__ import annotations

import logging
import os
import signal
import tempfile
import threading
from pathlib import Path

import gradio as gr

from studio.config import Settings
from starlette.middleware import Middleware

from studio import lifecycle, visitors, zerogpu
from studio.process_memory import few_malloc_arenas
from studio.messages import LANGUAGES, catalogue, language_of, text
from studio.session_guard import SessionGuard, request_visitor
from studio.services import Services, build_services
from studio.story import escape_md
from tabs import dashboard as dashboard_tab
from tabs.common import sessions
from tabs import export as export_tab
from tabs import library as library_tab
from tabs import pages as pages_tab
from tabs import preview as preview_tab
from tabs import settings as settings_tab
from tabs import story as story_tab
from tabs import train_likeness as train_likeness_tab
from tabs import voice as voice_tab
from tabs.common import TabContext, line_notice, require_owner, say, user_errors

log = logging.getLogger("gieok")
TAB_MODULES = [library_tab, story_tab, pages_tab, train_likeness_tab, voice_tab, preview_tab, export_tab, settings_tab,
               dashboard_tab]
ASSETS = Path(__file__).parent / "assets"

def build_i18n() -> gr.I18n:
    """Every catalogue key in every language: the browser picks the visitor's language."""
    return gr.I18n(**{lang: dict(catalogue(lang)) for lang in LANGUAGES})


def owner_for(mode: str, token: str | None, profile: gr.OAuthProfile | None, secret: bytes) -> str:
    """The owner id for a visitor. Local mode is one family on 127.0.0.1; a logged-in Space
    visitor is their Hugging Face account; anyone else is their server-made cookie token
    (``studio.session_guard``), never the browser-chosen session hash."""
    username = getattr(profile, "username", None) if profile is not None else None
    return visitors.owner_for(mode, token, username, secret)


def build_app(services: Services) -> gr.Blocks:
    settings = services.settings
    few_malloc_arenas()  # a day of visitors' pictures and sound must not pile up in per-thread arenas
    i18n = build_i18n()
    if settings.mode == "kiosk":  # the guided exhibition screens instead of the studio's tabs
        from tabs import kiosk
        demo = kiosk.build_kiosk_app(services)
        demo.i18n_instance = i18n
        lifecycle.serve_from(Path(demo.GRADIO_CACHE))  # picture copies are the files the server hands out
        return demo
    # Gradio's cache holds the pictures/audio we show; clear it hourly so a day-long run stays flat.
    with gr.Blocks(title="Gieok Studio · 기억 스튜디오", delete_cache=(3600, 6 * 3600)) as demo:
        owner = gr.State(None)
        book_id = gr.State(None)
        with gr.Row(elem_id="gieok-header", equal_height=True):
            # No emoji here: many computers have no colour-emoji font and show an empty box.
            with gr.Column(elem_id="gieok-title", scale=3, min_width=240):
                gr.Markdown(f"# {i18n('app.title')}")  # one translated phrase per string: Gradio translates markers
                gr.Markdown(i18n("app.tagline"), elem_id="gieok-tagline")
            open_title = gr.Markdown(elem_id="gieok-open-book")
            if settings.mode == "public" and os.environ.get("OAUTH_CLIENT_ID"):
                gr.LoginButton()  # Spaces with hf_oauth: books follow the Hugging Face account
        visitor_notice = gr.Markdown(visible=False, elem_id="gieok-visitor-notice")
        with gr.Tabs(overflow_behavior="wrap", elem_id="gieok-tabs") as tabs:  # every tab named on a phone
            ctx = TabContext(services=services, owner=owner, book_id=book_id, i18n=i18n, tabs=tabs)
            for module in TAB_MODULES:
                with gr.Tab(i18n(module.TITLE), id=module.__name__.rsplit(".", 1)[-1]) as tab:
                    module.build(ctx, tab)

        @user_errors
        def show_open_book(owner_id, open_id):
            if not (owner_id and open_id):
                return ""
            return say("common.open_book", title=f"**{escape_md(services.store.get(require_owner(owner_id), open_id).title)}**")

        book_id.change(show_open_book, [owner, book_id], open_title, api_visibility="private")

        secret = visitors.load_secret(settings.data_dir)
        expiry = visitors.ExpiryPolicy(settings.anon_ttl_hours)

        def start_session(request: gr.Request, profile: gr.OAuthProfile | None = None):
            lang = language_of(request.headers.get("accept-language"))
            token, _ = request_visitor(request)
            try:
                owner_id = owner_for(settings.mode, token, profile, secret)
            except visitors.VisitorError as exc:
                raise gr.Error(text(str(exc), lang)) from None
            services.store.touch(owner_id)  # a visit is activity: anonymous expiry counts from now
            notice = expiry.notice(owner_id, lang) if os.environ.get("SPACE_ID") else ""
            return owner_id, gr.update(value=notice, visible=bool(notice))

        demo.load(start_session, inputs=None, outputs=[owner, visitor_notice], api_name="start_session")

        # Pictures and training wait in the GPU line, narration in its own, jobs on remote engines in
        # their pool's line (tabs.common.queue_line): while something of this visitor's waits, say how
        # many jobs are ahead (Gradio's own counter is English and hidden).
        line = gr.Markdown(visible=False, elem_id="gieok-line", elem_classes=["gieok-notice"])

        @user_errors
        def show_line(request: gr.Request):
            return line_notice(demo._queue, getattr(request, "session_hash", None))

        gr.Timer(2.0).tick(show_line, None, line, api_visibility="private", queue=False, show_progress="hidden")
    demo.i18n_instance = i18n  # kept for launch()
    lifecycle.serve_from(Path(demo.GRADIO_CACHE))  # picture copies are the files the server hands out
    return demo


def launch(demo: gr.Blocks, services: Services, **kwargs):
    settings = services.settings
    zerogpu.activate()  # on a ZeroGPU Space: the GPU dispatcher is decorated before the app starts
    demo.queue(max_size=settings.queue_size, default_concurrency_limit=4)
    options = dict(
        server_name=settings.host,
        server_port=settings.port,
        max_file_size=f"{settings.max_file_size_mb}mb",
        allowed_paths=[],
        blocked_paths=[str(settings.data_dir.resolve())],
        share=False,
        show_error=False,
        i18n=demo.i18n_instance,
        # Local font names only: a GoogleFont would be fetched from the internet.
        theme=gr.themes.Soft(primary_hue="orange", secondary_hue="amber",
                             font=["Nanum Gothic", "Noto Sans KR", "sans-serif"]),
        css_paths=[ASSETS / "studio.css", *([ASSETS / "kiosk.css"] if settings.mode == "kiosk" else [])],
        footer_links=["gradio"],
    )
    if settings.mode != "local":  # every call bound to the visitor's server-made cookie token
        guard = Middleware(SessionGuard, secret=visitors.load_secret(settings.data_dir),
                           fresh_visitor_per_page=settings.mode == "kiosk")
        options["app_kwargs"] = {"middleware": [guard]}
    if settings.mode == "kiosk":  # the one-time take-home links, and forgetting idle visitors server-side
        from studio.kiosk import Reaper
        from tabs import kiosk
        options["app_kwargs"]["routes"] = kiosk.routes(services)
        services.reaper = Reaper(services.kiosk).start()
    # Hourly housekeeping: old downloads, caches and leftovers go; public visitors who never
    # logged in are forgotten after the time their notice states.
    expiry = visitors.ExpiryPolicy(settings.anon_ttl_hours) if settings.mode == "public" else None
    services.purger = visitors.PurgeTimer(services.store, expiry)
    services.purger.start()
    if sessions.capacity_for(settings.mode):  # a page's web session is ~0.7 MB: never 10,000 of them
        options["state_session_capacity"] = sessions.capacity_for(settings.mode)
    services.session_sweeper = sessions.ClosedSessionSweeper(demo).start()
    options.update(kwargs)
    return demo.launch(**options)


def main() -> None:
    logging.basicConfig(level=os.environ.get("GIEOK_LOG_LEVEL", "INFO"))
    settings = Settings.from_env()
    if settings.mode == "kiosk":  # the operator left kiosk mode: the family studio opens this once
        from studio.kiosk_operator import start_mode
        settings.mode, settings.host = start_mode(settings)
    if _inside(settings.data_dir, Path.cwd()) or _inside(settings.data_dir, Path(tempfile.gettempdir()) / "gradio"):
        raise SystemExit(f"GIEOK_DATA_DIR ({settings.data_dir}) must be outside the app folder and Gradio's cache.")
    services = build_services(settings)
    log.info("Gieok Studio data: %s", settings.data_dir)
    from studio.model_warmup import ModelWarmup  # hub models fetched now, not in the first page's GPU turn

    services.warmup = ModelWarmup(settings).start()
    demo = build_app(services)
    if settings.mode == "kiosk":  # "leave kiosk mode" stops the server; its supervisor starts the studio
        services.kiosk.on_leave = lambda: threading.Timer(3.0, os.kill, (os.getpid(), signal.SIGTERM)).start()
    launch(demo, services)


def _inside(child: Path, parent: Path) -> bool:
    try:
        child.resolve().relative_to(parent.resolve())
        return True
    except ValueError:
        return False


if __name__ == "__main__":
    main()
