"""The Settings tab tells the family which engine does each part in plain words; the setting
names are only in the details for whoever set the studio up."""
from ui_helpers import client_in


def test_backend_status_in_plain_words_with_details(launch_app):
    url, _ = launch_app()
    table, details = client_in(url, "en-US").predict(api_name="/backend_status")
    table = table.get("value", table)  # an update carrying the headers too
    rows = {(r[0], r[1]): (r[2], r[3]) for r in table["data"]}
    in_use = {part for (part, _), (active, _) in rows.items() if active == "✓"}
    assert {"Story", "Pictures", "Reading voice", "Voice likeness"} <= in_use
    assert rows[("Story", "Gemini (Google's writing model)")] == ("", "not set up")
    assert rows[("Pictures", "Picture-book drawings (offline)")] == ("✓", "ready")
    assert not any("GIEOK" in cell or "API_KEY" in cell for row in table["data"] for cell in row)
    assert "GIEOK_SD_MODEL" in details and "no GEMINI_API_KEY set" in details  # for the person who configures

    table, details = client_in(url, "ko-KR").predict(api_name="/backend_status")
    table = table.get("value", table)
    assert ["그림", "그림책 그림 (오프라인)", "✓", "준비됨"] in table["data"]
    assert "README" in details and "환경 변수" in details
    # the details say each engine's reason in the visitor's language, setting names kept for the host
    assert "`GEMINI_API_KEY`가 없어요" in details and "GIEOK_SD_MODEL 설정이 비어 있어요" in details
    assert "not available" not in details and "no GEMINI_API_KEY set" not in details
