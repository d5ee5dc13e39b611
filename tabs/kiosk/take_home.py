"""Take it home: a QR code for a one-time download on the local network, or print it (confirm,
then a copy count), and "I'm done" which forgets the visitor."""
from __future__ import annotations

import html
import socket
from pathlib import Path

import gradio as gr

from studio.kiosk import Kiosk
from tabs.kiosk.ui import KioskUI, kind_words, t, visitor

ROUTE = "/kiosk/take/"


def build(k: KioskUI) -> None:
    with gr.Column(visible=False, elem_classes=["kiosk-screen"]) as k.steps["take_home"]:
        k.say(gr.Markdown(**k.words(value="kiosk.take_home_title"), elem_classes=["kiosk-title"]),
              value="kiosk.take_home_title")
        with gr.Row(equal_height=True):
            with gr.Column(elem_classes=["kiosk-qr-box"]):
                k.parts["qr"] = gr.HTML(elem_id="kiosk-qr")
                k.parts["new_code"] = k.say(gr.Button(**k.words(value="kiosk.new_code"), elem_id="kiosk-new-code"),
                                            value="kiosk.new_code")
            with gr.Column(visible=k.kiosk.settings.printing) as k.parts["print_box"]:
                k.say(gr.Markdown(**k.words(value="kiosk.print_title"), elem_classes=["kiosk-lead"]),
                      value="kiosk.print_title")
                # big choices for a finger, not a slider
                k.parts["copies"] = k.say(gr.Radio(copy_choices(k.kiosk.settings.max_copies), value=1,
                                                   **k.words(label="kiosk.copies"), elem_id="kiosk-copies"),
                                          label="kiosk.copies")
                k.parts["print"] = k.say(gr.Button(**k.words(value="kiosk.print"), elem_classes=["kiosk-big"],
                                                   elem_id="kiosk-print"), value="kiosk.print")
                # the question (with the number of copies) first, then its two answers, as big as the rest
                k.parts["print_status"] = gr.Markdown(elem_classes=["kiosk-lead"], elem_id="kiosk-print-status")
                with gr.Row(visible=False) as k.parts["confirm_row"]:
                    k.parts["print_yes"] = k.say(gr.Button(**k.words(value="kiosk.print_yes"), variant="primary",
                                                           elem_classes=["kiosk-big"], elem_id="kiosk-print-yes"),
                                                 value="kiosk.print_yes")
                    k.parts["print_no"] = k.say(gr.Button(**k.words(value="kiosk.print_no"), elem_classes=["kiosk-big"]),
                                                value="kiosk.print_no")
        with gr.Row(elem_classes=["kiosk-actions"]):
            k.parts["back_to_book"] = k.say(gr.Button(**k.words(value="kiosk.back_to_book"), elem_classes=["kiosk-big"]),
                                            value="kiosk.back_to_book")
            k.parts["done"] = k.say(gr.Button(**k.words(value="kiosk.done"), variant="primary",
                                              elem_classes=["kiosk-big"], elem_id="kiosk-done"), value="kiosk.done")


def copy_choices(most: int) -> list[tuple[str, int]]:
    return [(str(n), n) for n in range(1, int(most) + 1)]


def base_url(kiosk: Kiosk, request_host: str | None) -> str:
    """Where a phone on the exhibition's network reaches this studio: the operator's address,
    else the address the kiosk browser used unless that is this machine only, else our LAN address."""
    configured = getattr(kiosk.services.settings, "kiosk_url", "")
    if configured:
        return configured.rstrip("/")
    host, _, port = (request_host or "").rpartition(":") if ":" in (request_host or "") else (request_host, "", "")
    if host and host not in ("127.0.0.1", "localhost", "::1", "[::1]"):
        return f"http://{request_host}"
    # the kiosk's own browser uses loopback; a phone needs this machine's address on the network
    # (the studio must then listen on it: GIEOK_HOST=0.0.0.0, see the README)
    return f"http://{lan_address()}:{port or kiosk.services.settings.port}"


def lan_address() -> str:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("10.255.255.255", 1))  # no packet is sent: this only picks the outgoing interface
            return s.getsockname()[0]
        except OSError:
            return "127.0.0.1"


def qr_html(url: str, lang: str, expires: str) -> str:
    import segno

    svg = segno.make(url, error="m").svg_inline(scale=8, border=2, dark="#2b1d0e", light="#fffaf0")
    return (f"<div class='kiosk-qr'>{svg}<p>{html.escape(t('kiosk.qr_hint', lang))}</p>"
            f"<p>{html.escape(expires)}</p><p class='kiosk-url'>{html.escape(url)}</p></div>")


def wire(k: KioskUI) -> None:
    kiosk = k.kiosk

    @kind_words()
    def open_take_home(lang, owner, request: gr.Request):
        owner = visitor(owner, lang)
        found = kiosk.visitor(owner)
        pdf = found.data.get("pdf") if found else None
        if not pdf or not Path(pdf).is_file():
            raise gr.Error(t("kiosk.no_book", lang))
        kiosk.touch(owner)
        token = kiosk.issue_link(owner, Path(pdf))
        url = f"{base_url(kiosk, request.headers.get('host'))}{ROUTE}{token}"
        minutes = max(1, kiosk.settings.link_lifetime_s // 60)
        settings = kiosk.settings
        return [*k.show("take_home"), qr_html(url, lang, t("kiosk.qr_expires", lang, minutes=minutes)),
                gr.update(visible=settings.printing), gr.update(visible=False), "",
                gr.update(choices=copy_choices(settings.max_copies), value=1)]

    take_outputs = [*k.screens, k.parts["qr"], k.parts["print_box"], k.parts["confirm_row"], k.parts["print_status"],
                    k.parts["copies"]]
    k.parts["to_take_home"].click(open_take_home, [k.lang, k.owner], take_outputs, api_name="kiosk_take_home")
    k.parts["new_code"].click(open_take_home, [k.lang, k.owner], take_outputs, api_visibility="private")

    @kind_words()
    def ask(lang, owner, copies):
        visitor(owner, lang)
        kiosk.touch(owner)
        return gr.update(visible=True), t("kiosk.print_confirm", lang, copies=int(copies))

    k.parts["print"].click(ask, [k.lang, k.owner, k.parts["copies"]], [k.parts["confirm_row"], k.parts["print_status"]],
                           api_name="kiosk_print_ask")

    @kind_words()
    def print_now(lang, owner, copies):
        owner = visitor(owner, lang)
        found = kiosk.visitor(owner)
        pdf = found.data.get("pdf") if found else None
        if not pdf:
            raise gr.Error(t("kiosk.no_book", lang))
        kiosk.touch(owner)
        kiosk.print_pdf(owner, Path(pdf), int(copies))
        return gr.update(visible=False), t("kiosk.printing", lang, copies=int(copies))

    k.parts["print_yes"].click(print_now, [k.lang, k.owner, k.parts["copies"]],
                               [k.parts["confirm_row"], k.parts["print_status"]], api_name="kiosk_print")
    k.parts["print_no"].click(lambda: (gr.update(visible=False), ""), None,
                              [k.parts["confirm_row"], k.parts["print_status"]], api_visibility="private")
    k.parts["back_to_book"].click(lambda: k.show("playback"), None, k.screens, api_visibility="private")
