"""Settings section: the remote picture/voice/story servers, whether they answer, and whose
Hugging Face allowance pays. A section of the Settings tab (built from ``tabs/settings.py``).

The visitor's OAuth token reaches the studio only as a handler argument (``gr.OAuthToken``);
it is used for the check and dropped, never returned to the browser."""
from __future__ import annotations

import gradio as gr

from studio.backends.remote import status
from studio.backends.remote.common import visitor_credentials
from studio.messages import text
from tabs.common import TabContext, user_errors, visitor_language


def _table(rows: list[list[str]], lang: str):
    headers = [text(key, lang) for key in ("remote.col_engine", "remote.col_address", "remote.col_status")]
    return gr.update(value=rows, headers=headers)


def build(ctx: TabContext, tab: gr.Tab) -> None:
    services = ctx.services
    with gr.Accordion(ctx.t("remote.section"), open=True):
        quota = gr.Markdown()
        # the headers are said with the rows, in the visitor's language (a Dataframe does not
        # translate i18n keys in its headers)
        table = gr.Dataframe(headers=["", "", ""], value=None, interactive=False, wrap=True,
                             column_widths=["28%", "32%", "40%"])
        test = gr.Button(ctx.t("remote.test"), size="sm")

    def answer(credentials, rows: list[list[str]], lang: str):
        """The allowance line and the servers' table, both in the visitor's language."""
        return status.quota_note(services.settings, credentials, lang), _table(rows, lang)

    @user_errors
    def show(oauth_token: gr.OAuthToken | None = None, profile: gr.OAuthProfile | None = None):
        lang = visitor_language()
        return answer(visitor_credentials(oauth_token, profile), status.overview(services, lang), lang)

    @user_errors
    def check(oauth_token: gr.OAuthToken | None = None, profile: gr.OAuthProfile | None = None):
        lang, credentials = visitor_language(), visitor_credentials(oauth_token, profile)
        return answer(credentials, status.test_connections(services, credentials, lang), lang)

    tab.select(show, None, [quota, table], api_name="remote_status")
    test.click(check, None, [quota, table], api_name="remote_test")
