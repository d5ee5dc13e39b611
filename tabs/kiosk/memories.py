"""Who you remember: a name, how they were related, one to three memories, and if they like a
photo (camera or file) and 10-30 seconds of their own voice to read the book."""
from __future__ import annotations

import gradio as gr

from tabs.kiosk.ui import KioskUI


def build(k: KioskUI) -> None:
    with gr.Column(visible=False, elem_classes=["kiosk-screen"]) as k.steps["memories"]:
        k.say(gr.Markdown(**k.words(value="kiosk.memories_title"), elem_classes=["kiosk-title"]),
              value="kiosk.memories_title")
        # two columns on a landscape screen (everything above the fold), one column in portrait
        with gr.Row(elem_classes=["kiosk-two"]):
            with gr.Column(min_width=560):
                with gr.Row():
                    k.parts["name"] = k.say(gr.Textbox(**k.words(label="kiosk.name", placeholder="kiosk.name_hint"),
                                                       max_length=60, elem_id="kiosk-name"),
                                            label="kiosk.name", placeholder="kiosk.name_hint")
                    k.parts["relation"] = k.say(gr.Textbox(**k.words(label="kiosk.relation",
                                                                     placeholder="kiosk.relation_hint"),
                                                           max_length=30, elem_id="kiosk-relation"),
                                                label="kiosk.relation", placeholder="kiosk.relation_hint")
                k.parts["memory_boxes"] = [
                    k.say(gr.Textbox(**k.words(label=f"kiosk.memory_{i}", placeholder="kiosk.memory_hint"), lines=2,
                                     max_length=400, elem_id=f"kiosk-memory-{i}"),
                          label=f"kiosk.memory_{i}", placeholder="kiosk.memory_hint")
                    for i in (1, 2, 3)]
            with gr.Column(min_width=560):
                # image_mode=None: the web server hands over the upload itself instead of saving a converted
                # copy beside it that nothing would remember to delete (the studio converts it anyway)
                k.parts["photo"] = k.say(gr.Image(**k.words(label="kiosk.photo"), type="filepath", image_mode=None,
                                                  sources=["webcam", "upload"], height=240, elem_id="kiosk-photo"),
                                         label="kiosk.photo")
                k.parts["voice"] = k.say(gr.Audio(**k.words(label="kiosk.voice"), sources=["microphone", "upload"],
                                                  type="filepath", elem_id="kiosk-voice"),
                                         label="kiosk.voice")
                k.parts["voice_ok"] = k.say(gr.Checkbox(**k.words(label="kiosk.voice_ok"), value=False,
                                                        elem_id="kiosk-voice-ok"), label="kiosk.voice_ok")
        with gr.Row(elem_classes=["kiosk-actions"]):
            k.parts["memories_back"] = k.say(gr.Button(**k.words(value="kiosk.back"), elem_classes=["kiosk-big"]),
                                             value="kiosk.back")
            k.parts["make"] = k.say(gr.Button(**k.words(value="kiosk.make"), variant="primary",
                                              elem_classes=["kiosk-big"], elem_id="kiosk-make"), value="kiosk.make")


def inputs(k: KioskUI) -> list:
    return [k.parts["name"], k.parts["relation"], *k.parts["memory_boxes"], k.parts["photo"],
            k.parts["voice"], k.parts["voice_ok"]]


def cleared() -> list:
    """Every field empty again (a new visitor must never see the last one's words or photo)."""
    # one update object per field: Gradio consumes an update's value, so they must not be shared
    return [gr.update(value="") for _ in range(5)] + [gr.update(value=None), gr.update(value=None),
                                                       gr.update(value=False)]


def wire(k: KioskUI) -> None:
    k.parts["memories_back"].click(lambda: k.show("consent"), None, k.screens, api_name="kiosk_memories_back")

    def remember(owner, path):
        if owner and path:
            k.kiosk.remember_upload(owner, path)  # so forgetting the visitor removes the server's copy

    for name in ("photo", "voice"):
        k.parts[name].change(remember, [k.owner, k.parts[name]], None, api_visibility="private",
                             show_progress="hidden")
