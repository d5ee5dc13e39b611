"""Dashboard tab (studio mode): how the studio's jobs went over the last day, for whoever runs it.
The kiosk shows the same view on its PIN-guarded operator screen."""
from __future__ import annotations

import gradio as gr

from tabs.common import TabContext, user_errors, visitor_language
from tabs.common import dashboard_view

TITLE = "kiosk.dash_title"
RETENTION_DAYS = 30


def build(ctx: TabContext, tab: gr.Tab) -> None:
    services = ctx.services
    if services.settings.mode == "public":  # a public Space: the day's figures are not every visitor's to see
        gr.Markdown(ctx.t("kiosk.op_locked"))
        return
    dashboard_view.log_of(services)  # from now on every job of every tab is recorded
    parts = dashboard_view.build(lambda component, **_: component,
                                 lambda **keys: {attr: ctx.t(key) for attr, key in keys.items()})

    @user_errors
    def refreshed():
        return dashboard_view.refreshed(services, visitor_language())

    @user_errors
    def purge():
        return dashboard_view.purge(services, visitor_language(), RETENTION_DAYS)

    outputs = dashboard_view.plot_outputs(parts)
    parts["refresh"].click(refreshed, None, outputs, api_name="dashboard")
    tab.select(refreshed, None, outputs, api_visibility="private")
    parts["csv"].click(lambda: gr.update(value=dashboard_view.csv_file(services), visible=True), None, parts["file"],
                       api_name="dashboard_csv")
    parts["purge"].click(purge, None, parts["purged"], api_name="dashboard_purge")
