"""The operator's screen: a PIN, then the kiosk's settings, the day's dashboard and the way out
of kiosk mode. Every action checks the unlock on the server (not only what the screen shows)."""
from __future__ import annotations

import gradio as gr

from studio.illustrate import styles
from studio.messages import text
from tabs.common import dashboard_view
from tabs.kiosk.ui import KioskUI, client_of, kind_words, t, visitor

SETTING_NAMES = ("page_count", "style", "idle_timeout_s", "link_minutes", "printing", "max_copies", "language",
                 "retention_days", "writer", "illustrator", "speaker")


def build(k: KioskUI) -> None:
    s = k.kiosk.settings
    with gr.Column(visible=False, elem_classes=["kiosk-screen", "kiosk-operator"]) as k.steps["operator"]:
        k.say(gr.Markdown(**k.words(value="kiosk.op_title")), value="kiosk.op_title")
        with gr.Row():
            k.parts["pin"] = k.say(gr.Textbox(**k.words(label="kiosk.op_pin"), type="password", max_length=12,
                                              elem_id="kiosk-pin"), label="kiosk.op_pin")
            k.parts["unlock"] = k.say(gr.Button(**k.words(value="kiosk.op_unlock"), variant="primary",
                                                elem_id="kiosk-unlock"), value="kiosk.op_unlock")
            k.parts["op_close"] = k.say(gr.Button(**k.words(value="kiosk.op_close")), value="kiosk.op_close")
        k.parts["op_status"] = gr.Markdown(elem_id="kiosk-op-status")
        with gr.Column(visible=False) as k.parts["op_panel"]:
            with gr.Row():
                fields = {
                    "page_count": gr.Slider(4, 12, value=s.page_count, step=1, **k.words(label="kiosk.op_pages")),
                    "style": gr.Dropdown([(p.label(s.language), key) for key, p in styles().items()], value=s.style,
                                         **k.words(label="kiosk.op_style")),
                    "idle_timeout_s": gr.Number(s.idle_timeout_s, precision=0, **k.words(label="kiosk.op_idle")),
                    "link_minutes": gr.Number(s.link_lifetime_s // 60, precision=0, **k.words(label="kiosk.op_link")),
                }
            with gr.Row():
                fields.update({
                    "printing": gr.Checkbox(s.printing, **k.words(label="kiosk.op_printing")),
                    "max_copies": gr.Slider(1, 10, value=s.max_copies, step=1, **k.words(label="kiosk.op_copies")),
                    "language": gr.Radio([("한국어", "ko"), ("English", "en")], value=s.language,
                                         **k.words(label="kiosk.op_language")),
                    "retention_days": gr.Number(s.retention_days, precision=0, **k.words(label="kiosk.op_retention")),
                })
            with gr.Row():
                for kind in ("writer", "illustrator", "speaker"):
                    configured = [(text("kiosk.op_as_configured", s.language), "")]
                    fields[kind] = gr.Dropdown(configured + k.kiosk.backend_choices(kind), value=getattr(s, kind),
                                               **k.words(label=f"kiosk.op_{kind}"))
            keys = {"writer": "kiosk.op_writer", "illustrator": "kiosk.op_illustrator", "speaker": "kiosk.op_speaker",
                    "page_count": "kiosk.op_pages", "style": "kiosk.op_style", "idle_timeout_s": "kiosk.op_idle",
                    "link_minutes": "kiosk.op_link", "printing": "kiosk.op_printing", "max_copies": "kiosk.op_copies",
                    "language": "kiosk.op_language", "retention_days": "kiosk.op_retention"}
            for name, component in fields.items():
                k.say(component, label=keys[name])
            k.parts["op_fields"] = [fields[n] for n in SETTING_NAMES]
            with gr.Row():
                k.parts["op_save"] = k.say(gr.Button(**k.words(value="kiosk.op_save"), variant="primary"),
                                           value="kiosk.op_save")
                k.parts["new_pin"] = k.say(gr.Textbox(**k.words(label="kiosk.op_new_pin"), type="password",
                                                      max_length=12), label="kiosk.op_new_pin")
                k.parts["set_pin"] = k.say(gr.Button(**k.words(value="kiosk.op_set_pin")), value="kiosk.op_set_pin")
            k.parts["dash"] = dashboard_view.build(k.say, k.words)
            k.parts["leave"] = k.say(gr.Button(**k.words(value="kiosk.op_leave"), variant="stop"),
                                     value="kiosk.op_leave")


def wire(k: KioskUI) -> None:
    kiosk, dash = k.kiosk, k.parts["dash"]
    status, panel = k.parts["op_status"], k.parts["op_panel"]

    @kind_words()
    def unlock(lang, owner, pin):
        owner = visitor(owner, lang)
        kiosk.unlock(owner, pin, client_of())
        return "", gr.update(visible=True), gr.update(value=""), *dashboard_view.refreshed(k.services, lang)

    k.parts["unlock"].click(unlock, [k.lang, k.owner, k.parts["pin"]],
                            [status, panel, k.parts["pin"], *dashboard_view.plot_outputs(dash)], api_name="operator_unlock")

    def close(owner):
        if owner:
            kiosk.lock(owner)
        return [*k.show("welcome"), gr.update(visible=False), ""]

    k.parts["op_close"].click(close, [k.owner], [*k.screens, panel, status], api_name="operator_close")

    @kind_words()
    def save(lang, owner, page_count, style, idle_s, link_minutes, printing, max_copies, language, retention,
             writer, illustrator, speaker):
        kiosk.save_settings(visitor(owner, lang), page_count=page_count, style=style, idle_timeout_s=idle_s,
                            link_lifetime_s=int(float(link_minutes or 0) * 60), printing=printing,
                            max_copies=max_copies, language=language, retention_days=retention,
                            writer=writer or "", illustrator=illustrator or "", speaker=speaker or "")
        return t("kiosk.op_saved", lang)

    k.parts["op_save"].click(save, [k.lang, k.owner, *k.parts["op_fields"]], status, api_name="operator_save")

    @kind_words()
    def set_pin(lang, owner, pin):
        kiosk.require_operator(visitor(owner, lang))
        kiosk.operator.set_pin(pin)
        return t("kiosk.op_pin_changed", lang), ""

    k.parts["set_pin"].click(set_pin, [k.lang, k.owner, k.parts["new_pin"]], [status, k.parts["new_pin"]],
                             api_name="operator_set_pin")

    @kind_words()
    def refresh(lang, owner):
        kiosk.require_operator(visitor(owner, lang))
        return dashboard_view.refreshed(k.services, lang)

    dash["refresh"].click(refresh, [k.lang, k.owner], dashboard_view.plot_outputs(dash), api_name="operator_dashboard")

    @kind_words()
    def csv(lang, owner):
        kiosk.require_operator(visitor(owner, lang))
        return gr.update(value=dashboard_view.csv_file(k.services), visible=True)

    dash["csv"].click(csv, [k.lang, k.owner], dash["file"], api_name="operator_csv")

    @kind_words()
    def purge(lang, owner):
        kiosk.require_operator(visitor(owner, lang))
        return dashboard_view.purge(k.services, lang, kiosk.settings.retention_days)

    dash["purge"].click(purge, [k.lang, k.owner], dash["purged"], api_name="operator_purge")

    @kind_words()
    def leave(lang, owner):
        kiosk.leave_kiosk_mode(visitor(owner, lang))
        return t("kiosk.op_left", lang)

    k.parts["leave"].click(leave, [k.lang, k.owner], status, api_name="operator_leave")
