"""The exhibition kiosk (``GIEOK_MODE=kiosk``): one guided screen at a time for a visitor alone,
who is forgotten when they leave. ``app.build_app`` hands over to :func:`build_kiosk_app`.

welcome -> consent -> memories -> making -> playback -> take_home, and a PIN-guarded operator screen.
"""
from __future__ import annotations

from pathlib import Path

import gradio as gr

from studio.kiosk import Kiosk
from studio.messages import language_of
from studio.services import Services
from studio.session_guard import request_visitor
from studio.visitors import VisitorError, load_secret, owner_for
from tabs.common import sessions
from tabs.kiosk import consent, making, memories, operator, playback, take_home, welcome
from tabs.kiosk.ui import KioskUI, t

SCREENS = (welcome, consent, memories, making, playback, take_home, operator)
CSS = Path(__file__).resolve().parents[2] / "assets" / "kiosk.css"
TICK_S = 5.0  # how often the page asks whether its visitor has gone idle
RELOAD = "() => { window.location.replace(window.location.pathname); }"


def build_kiosk_app(services: Services) -> gr.Blocks:
    kiosk = getattr(services, "kiosk", None) or Kiosk(services)
    services.kiosk = kiosk
    from gradio.utils import get_upload_folder
    kiosk.upload_root = Path(get_upload_folder())
    kiosk.purge_all()  # whatever a crash or a power cut left of earlier visitors goes now
    secret = load_secret(services.settings.data_dir)
    with gr.Blocks(title="기억 · Gieok", delete_cache=(600, 1800), fill_width=True,
                   elem_classes=["gieok-kiosk"]) as demo:
        k = KioskUI(services, kiosk, owner=gr.State(None, time_to_live=3 * 3600),
                    lang=gr.State(kiosk.settings.language, time_to_live=3 * 3600),
                    book_id=gr.State(None, time_to_live=3 * 3600), page=gr.State(0, time_to_live=3 * 3600))
        k.screen = gr.Textbox("welcome", visible=False, elem_id="kiosk-screen-name")
        for screen in SCREENS:
            screen.build(k)
        reset = gr.Number(0, visible=False)
        timer = gr.Timer(TICK_S)
        for screen in SCREENS:
            screen.wire(k)

        def start_session(request: gr.Request):
            token, _ = request_visitor(request)
            lang = kiosk.settings.language
            try:
                owner = owner_for("kiosk", token, None, secret)
            except VisitorError:
                raise gr.Error(t("kiosk.session_lost", lang)) from None
            kiosk.arrive(owner)
            return [owner, lang, None, 0, *k.show("welcome"), *k.lang_marks(lang), *k.relabel(lang)]

        demo.load(start_session, None, [k.owner, k.lang, k.book_id, k.page, *k.screens, *k.lang_buttons, *k.worded],
                  api_name="start_session")

        def goodbye(lang, owner, request: gr.Request):
            """Forget this visitor now (their files, exports, links), and start over at welcome."""
            if owner:
                kiosk.forget(owner)
            sessions.release(demo, request.session_hash)
            lang = kiosk.settings.language
            return [None, None, 0, *k.show("welcome"), *memories.cleared(), *k.lang_marks(lang), *k.relabel(lang)]

        cleared = [k.owner, k.book_id, k.page, *k.screens, *memories.inputs(k), *k.lang_buttons, *k.worded]
        k.parts["done"].click(goodbye, [k.lang, k.owner], cleared, api_name="kiosk_new_visitor").then(
            None, None, None, js=RELOAD)
        k.parts["consent_no"].click(None, None, None, js=RELOAD)

        def tick(owner, count, request: gr.Request):
            """Client-side idle check; the server decides (its clock, and never during a job). Its
            only outputs are hidden, so the visitor's screen never flickers while it runs; when
            the visitor is forgotten the page reloads, which starts a new visitor at welcome."""
            if not owner or kiosk.visitor(owner) is not None and not kiosk.timed_out(owner):
                return gr.skip(), gr.skip()
            kiosk.forget(owner)  # idle (or already forgotten by the server's own check)
            sessions.release(demo, request.session_hash)
            return "welcome", (count or 0) + 1

        timer.tick(tick, [k.owner, reset], [k.screen, reset], api_name="kiosk_tick",
                   concurrency_id="kiosk_tick", concurrency_limit=None, show_progress="hidden")
        reset.change(None, None, None, js=RELOAD)
    demo.kiosk = kiosk
    return demo


def routes(services: Services) -> list:
    """The one-time download route, mounted beside Gradio's (see ``app.launch``)."""
    from starlette.responses import FileResponse, PlainTextResponse
    from starlette.routing import Route

    async def take(request):
        kiosk: Kiosk | None = getattr(services, "kiosk", None)
        link = kiosk.links.take(request.path_params["token"]) if kiosk is not None else None
        if link is None:
            lang = language_of(request.headers.get("accept-language"))
            return PlainTextResponse(t("kiosk.link_gone", lang), status_code=404)
        return FileResponse(link.path, media_type="application/pdf", filename=link.filename,
                            headers={"Cache-Control": "no-store"})

    return [Route(take_home.ROUTE + "{token}", take, methods=["GET"])]
