"""The Settings tab tells the family which model does each part, and why the others do not."""


def test_backend_status_lists_every_backend_with_reasons(launch_app, client_for):
    url, _ = launch_app()
    table = client_for(url).predict(api_name="/backend_status")
    rows = {(r[0].split(" · ")[0], r[1]): (r[2], r[3]) for r in table["data"]}
    in_use = {part for (part, _), (active, _) in rows.items() if active == "✓"}
    assert {"Story writer", "Illustrator", "Speech", "Voice conversion"} <= in_use
    assert rows[("Story writer", "Gemini")] == ("", "✗ no GEMINI_API_KEY set")
    sd = next(v for (part, name), v in rows.items() if part == "Illustrator" and "Stable Diffusion" in name)
    assert sd[0] == "" and "GIEOK_SD_MODEL" in sd[1]
    active_illustrator = [name for (part, name), (a, _) in rows.items() if part == "Illustrator" and a == "✓"]
    assert active_illustrator and "offline" in active_illustrator[0]
