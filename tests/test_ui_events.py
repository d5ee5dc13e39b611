"""How the studio's events are wired, read from the built app's own configuration."""
from __future__ import annotations

import app as app_module


def test_opening_a_book_loads_each_tab_once_when_it_is_shown(services):
    """The book is chosen in the Library tab and every other tab loads it when shown. A second
    load on the book's change arrived late on a busy server and wiped the name a visitor had
    just typed into the Story tab, so nothing triggered by that change may write a text box."""
    demo = app_module.build_app(services)
    config = demo.get_config_file()
    kinds = {c["id"]: c["type"] for c in config["components"]}
    typed = {cid for cid, kind in kinds.items() if kind in ("textbox", "number", "dropdown", "checkbox")}
    open_book = next(d for d in config["dependencies"] if d.get("api_name") == "open_book")
    book_id = open_book["outputs"][0]
    assert kinds[book_id] == "state"
    book_changes = [d for d in config["dependencies"] if [book_id, "change"] in [list(t) for t in d["targets"]]]
    assert book_changes, "the header follows the open book"
    assert [d.get("api_name") for d in book_changes if set(d["outputs"]) & typed] == []
    story_loads = [d for d in config["dependencies"] if d.get("api_name") == "story_load"]
    assert len(story_loads) == 1 and all(event == "select" for _, event in story_loads[0]["targets"])
