"""Likeness tab section: the family's own drawing styles — rename one, or delete it (pages that
used it go back to the default style). A section of the Likeness tab (built from
``tabs/train_likeness.py``)."""
from __future__ import annotations

import gradio as gr

from studio import style_presets
from tabs.common import TabContext, refuse, require_owner, say, user_errors


def _choices(services, owner: str) -> list[tuple[str, str]]:
    return [(preset.name_en, style_id) for style_id, preset in style_presets.owner_styles(services, owner).items()]


def build(ctx: TabContext, tab: gr.Tab) -> None:
    services, t = ctx.services, ctx.t
    with gr.Accordion(t("likeness.styles_mine"), open=False):
        with gr.Row():
            chosen = gr.Dropdown(label=t("likeness.styles_choose"), choices=[], interactive=True, scale=2,
                                 allow_custom_value=True)  # checked against the owner's styles in studio/
            new_name = gr.Textbox(label=t("likeness.style_name"), max_length=60, scale=2)
        with gr.Row():
            rename_btn = gr.Button(t("likeness.styles_rename"))
            sure = gr.Checkbox(label=t("likeness.styles_delete_sure"), value=False)
            delete_btn = gr.Button(t("likeness.styles_delete"), variant="stop")
        said = gr.Markdown()

    def listing(owner, keep=None):
        choices = _choices(services, owner) if owner else []
        value = keep if keep in {v for _, v in choices} else (choices[0][1] if choices else None)
        return gr.update(choices=choices, value=value)

    @user_errors
    def rename(owner, style_id, name):
        require_owner(owner)
        if not style_id:
            refuse("likeness.styles_none_chosen")
        preset = style_presets.rename_style(services, owner, style_id, name)
        return listing(owner, style_id), say("likeness.styles_renamed", name=preset.name_en), ""

    @user_errors
    def delete(owner, style_id, confirmed):
        require_owner(owner)
        if not style_id:
            refuse("likeness.styles_none_chosen")
        if not confirmed:
            refuse("likeness.styles_delete_confirm")
        moved = style_presets.delete_style(services, owner, style_id)
        if moved is None:
            refuse("likeness.style_gone")
        return listing(owner), say("likeness.styles_deleted", pages=moved), False

    tab.select(listing, [ctx.owner], [chosen], api_name="likeness_styles")
    rename_btn.click(rename, [ctx.owner, chosen, new_name], [chosen, said, new_name], api_name="likeness_style_rename")
    delete_btn.click(delete, [ctx.owner, chosen, sure], [chosen, said, sure], api_name="likeness_style_delete")
