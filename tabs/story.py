"""Story tab (being built; see its issue). Says plainly what it will do: no fake controls."""
from __future__ import annotations

import gradio as gr

from tabs.common import TabContext

TITLE = "tab.story"
STRINGS = {"en": {"tab.story": "Story"}, "ko": {"tab.story": "이야기"}}


def build(ctx: TabContext, tab: gr.Tab) -> None:
    gr.Markdown("This tab is not built yet.")
