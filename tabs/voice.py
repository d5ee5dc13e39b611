"""Voice tab (being built; see its issue). Says plainly what it will do: no fake controls."""
from __future__ import annotations

import gradio as gr

from tabs.common import TabContext

TITLE = "tab.voice"
STRINGS = {"en": {"tab.voice": "Voice"}, "ko": {"tab.voice": "목소리"}}


def build(ctx: TabContext, tab: gr.Tab) -> None:
    gr.Markdown("This tab is not built yet.")
