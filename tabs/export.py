"""Export tab (being built; see its issue). Says plainly what it will do: no fake controls."""
from __future__ import annotations

import gradio as gr

from tabs.common import TabContext

TITLE = "tab.export"
STRINGS = {"en": {"tab.export": "Export"}, "ko": {"tab.export": "내보내기"}}


def build(ctx: TabContext, tab: gr.Tab) -> None:
    gr.Markdown("This tab is not built yet.")
