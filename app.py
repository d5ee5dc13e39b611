"""Gieok Studio (기억): turn memories of someone you love into an illustrated, narrated book.

    python app.py            # http://127.0.0.1:7860, offline defaults when no weights/keys exist
"""
from __future__ import annotations

import hashlib
import html
import logging
import os
import re
import secrets
import tempfile
from pathlib import Path

import gradio as gr

from studio.config import Settings
from studio.messages import catalogue
from studio.services import Services, build_services
from tabs import export as export_tab
from tabs import library as library_tab
from tabs import pages as pages_tab
from tabs import preview as preview_tab
from tabs import settings as settings_tab
from tabs import story as story_tab
from tabs import train_likeness as train_likeness_tab
from tabs import voice as voice_tab
from tabs.common import TabContext

log = logging.getLogger("gieok")
TAB_MODULES = [library_tab, story_tab, pages_tab, train_likeness_tab, voice_tab, preview_tab, export_tab, settings_tab]
ASSETS = Path(__file__).parent / "assets"
_TOKEN = re.compile(r"[0-9a-f]{64}")

def build_i18n() -> gr.I18n:
    merged: dict[str, dict[str, str]] = {lang: dict(catalogue(lang)) for lang in ("en", "ko")}
    for strings in [m.STRINGS for m in TAB_MODULES]:
        for lang in merged:
            merged[lang].update(strings.get(lang, {}))
    return gr.I18n(**merged)


def owner_for(mode: str, token: str | None, profile: gr.OAuthProfile | None) -> tuple[str, str]:
    """The owner id for a visitor and the browser token to keep. Local mode is one family on
    127.0.0.1; public/kiosk visitors get a server-made secret token (never the session hash)."""
    if mode == "local":
        return "local", token or ""
    if profile is not None and getattr(profile, "username", None):
        return f"hf:{profile.username}", token or ""
    if mode == "kiosk" or not (token and _TOKEN.fullmatch(token)):
        token = secrets.token_hex(32)
    return "anon:" + hashlib.sha256(token.encode()).hexdigest()[:32], token


def _browser_secret(settings: Settings) -> str:
    path = settings.data_dir / ".browser-secret"
    if not path.exists():
        path.write_text(secrets.token_hex(32))
        path.chmod(0o600)
    return path.read_text().strip()


def build_app(services: Services) -> gr.Blocks:
    settings = services.settings
    i18n = build_i18n()
    # Gradio's cache holds the pictures/audio we show; clear it hourly so a day-long run stays flat.
    with gr.Blocks(title="Gieok Studio · 기억 스튜디오", delete_cache=(3600, 6 * 3600)) as demo:
        owner = gr.State(None)
        book_id = gr.State(None)
        token = gr.BrowserState("", storage_key="gieok-visitor", secret=_browser_secret(settings))
        with gr.Row(elem_id="gieok-header"):
            gr.HTML(
                "<h1 style='margin:0'>기억 스튜디오 · Gieok Studio</h1>"
                "<p style='margin:0;opacity:.8'>사랑하는 사람의 기억을 그림책으로 · "
                "Turn memories of someone you love into a picture book</p>"
            )
            open_title = gr.Markdown(elem_id="gieok-open-book")
            if settings.mode == "public" and os.environ.get("OAUTH_CLIENT_ID"):
                gr.LoginButton()  # Spaces with hf_oauth: books follow the Hugging Face account
        with gr.Tabs() as tabs:
            ctx = TabContext(services=services, owner=owner, book_id=book_id, i18n=i18n, tabs=tabs)
            for module in TAB_MODULES:
                with gr.Tab(i18n(module.TITLE), id=module.__name__.rsplit(".", 1)[-1]) as tab:
                    module.build(ctx, tab)

        def show_open_book(owner_id, open_id):
            if not (owner_id and open_id):
                return ""
            try:
                return f"📖 **{html.escape(services.store.get(owner_id, open_id).title)}**"
            except Exception:
                return ""

        book_id.change(show_open_book, [owner, book_id], open_title, api_visibility="private")

        def start_session(saved_token: str | None, profile: gr.OAuthProfile | None = None):
            owner_id, new_token = owner_for(settings.mode, saved_token, profile)
            return owner_id, new_token

        demo.load(start_session, inputs=[token], outputs=[owner, token], api_name="start_session")
    demo.i18n_instance = i18n  # kept for launch()
    return demo


def launch(demo: gr.Blocks, services: Services, **kwargs):
    settings = services.settings
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
        css_paths=[ASSETS / "studio.css"],
        footer_links=["gradio"],
    )
    options.update(kwargs)
    return demo.launch(**options)


def main() -> None:
    logging.basicConfig(level=os.environ.get("GIEOK_LOG_LEVEL", "INFO"))
    settings = Settings.from_env()
    if _inside(settings.data_dir, Path.cwd()) or _inside(settings.data_dir, Path(tempfile.gettempdir()) / "gradio"):
        raise SystemExit(f"GIEOK_DATA_DIR ({settings.data_dir}) must be outside the app folder and Gradio's cache.")
    services = build_services(settings)
    log.info("Gieok Studio data: %s", settings.data_dir)
    launch(build_app(services), services)


def _inside(child: Path, parent: Path) -> bool:
    try:
        child.resolve().relative_to(parent.resolve())
        return True
    except ValueError:
        return False


if __name__ == "__main__":
    main()
