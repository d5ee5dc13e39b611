"""The real google-genai and openai clients against a fake HTTP server on 127.0.0.1 that speaks
Gemini's generateContent and OpenAI's chat/completions: answers, bad JSON, errors, slowness."""
from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from studio.backends.base import BackendError, CancelToken, Cancelled, PageDraft, StoryRequest
from studio.backends.gemini import GeminiWriter
from studio.backends.openai_compat import OpenAICompatWriter
from studio.backends.registry import Backends
from studio.book import POSE_HINTS
from studio.config import Settings

REQUEST = StoryRequest("순자", "할머니", ["잘 웃으심"], ["감나무"], ["감을 따 주셨다"], page_count=4, language="ko")


def story_json(pages=4, text="순자 할머니는 감나무 아래에서 웃었어요."):
    return json.dumps({
        "title": "감나무 아래에서",
        "characters": [{"name": "순자 할머니", "description": "elderly Korean woman, gray bun, lavender cardigan"}],
        "pages": [{"text": f"{text} ({i + 1})", "illustration_prompt": "grandmother under a persimmon tree",
                   "characters": ["순자 할머니"], "setting": "persimmon orchard", "mood": "warm",
                   "pose_hint": "sitting together"} for i in range(pages)],
    }, ensure_ascii=False)


class FakeLLM:
    """Replays queued replies: ("ok", text) | ("cut", text) (stopped by the token limit) |
    ("http", status) | ("slow", seconds, text). Streamed requests (OpenAI ``stream: true``,
    Gemini ``streamGenerateContent?alt=sse``) get the answer as server-sent events in pieces."""

    def __init__(self):
        self.replies: list[tuple] = []
        self.seen: list[dict] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
                fake.seen.append({"path": self.path, "body": body, "headers": dict(self.headers)})
                reply = fake.replies.pop(0) if fake.replies else ("http", 500)
                gemini = "enerateContent" in self.path
                streamed = "streamGenerateContent" in self.path or bool(body.get("stream"))
                if reply[0] == "slow":
                    time.sleep(reply[1])
                    reply = ("ok", reply[2])
                try:
                    if reply[0] == "http":
                        message = reply[2] if len(reply) > 2 else "fake failure"
                        self._send(reply[1], {"error": {"code": reply[1], "message": message, "status":
                                                        "RESOURCE_EXHAUSTED" if reply[1] == 429 else "INTERNAL"}})
                    elif streamed:
                        self._stream(reply[1], gemini, cut=reply[0] == "cut")
                    else:
                        self._send(200, self._answer(reply[1], gemini, reply[0] == "cut"))
                except OSError:  # the client gave up (timeout test)
                    pass

            @staticmethod
            def _answer(text, gemini, cut, final=True):
                if gemini:
                    finish = ({"finishReason": "MAX_TOKENS" if cut else "STOP"} if final else {})
                    return {"candidates": [{"content": {"role": "model", "parts": [{"text": text}]}, "index": 0,
                                            **finish}]}
                finish = ("length" if cut else "stop") if final else None
                return {"id": "x", "object": "chat.completion.chunk", "created": 0, "model": "local",
                        "choices": [{"index": 0, "finish_reason": finish,
                                     "delta": {"role": "assistant", "content": text},
                                     "message": {"role": "assistant", "content": text}}]}

            def _send(self, status, out):
                data = json.dumps(out).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _stream(self, text, gemini, cut):
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.end_headers()
                third = max(1, len(text) // 3)
                pieces = [text[i:i + third] for i in range(0, len(text), third)] or [""]
                for i, piece in enumerate(pieces):
                    event = self._answer(piece, gemini, cut, final=i == len(pieces) - 1)
                    self.wfile.write(b"data: " + json.dumps(event).encode() + b"\n\n")
                    self.wfile.flush()
                if not gemini:
                    self.wfile.write(b"data: [DONE]\n\n")
                self.wfile.flush()
                self.close_connection = True

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()


@pytest.fixture
def fake():
    server = FakeLLM()
    yield server
    server.server.shutdown()
    server.server.server_close()


@pytest.fixture(params=["gemini", "openai"])
def writer(request, fake, tmp_path, monkeypatch):
    monkeypatch.setenv("GEMINI_API_KEY", "test-key")
    settings = Settings(data_dir=tmp_path / "d", gemini_base_url=fake.url, openai_base_url=fake.url + "/v1",
                        openai_model="llama-test", llm_timeout_s=2.0, llm_retries=2, llm_backoff_s=0.01)
    cls = GeminiWriter if request.param == "gemini" else OpenAICompatWriter
    return cls(settings)


def _user_texts(seen: dict) -> str:
    return json.dumps(seen["body"], ensure_ascii=False)


def test_happy_path_maps_pages_and_character_sheet(writer, fake):
    fake.replies = [("ok", story_json())]
    draft = writer.write_story(REQUEST)
    assert draft.title == "감나무 아래에서" and len(draft.pages) == 4
    assert draft.pages[1].text.endswith("(2)") and draft.pages[0].pose_hint == "sitting together"
    assert draft.characters[0].name == "순자 할머니" and "lavender" in draft.characters[0].description
    sent = fake.seen[0]
    if writer.name == "gemini":
        assert sent["path"].endswith(":streamGenerateContent?alt=sse") and "gemini-2.5-flash" in sent["path"]
        assert sent["headers"].get("x-goog-api-key") == "test-key"
        assert sent["body"]["generationConfig"]["responseMimeType"] == "application/json"
        assert sent["body"]["generationConfig"]["maxOutputTokens"] == 700 + 450 * 4  # sized to the book
        assert "pages" in json.dumps(sent["body"]["generationConfig"]["responseJsonSchema"])
    else:
        assert sent["path"] == "/v1/chat/completions" and sent["body"]["model"] == "llama-test"
        assert sent["body"]["response_format"] == {"type": "json_object"} and sent["body"]["stream"] is True
        assert sent["body"]["max_tokens"] == 700 + 450 * 4 and sent["body"]["options"] == {"num_ctx": 8192}
    assert "감을 따 주셨다" in _user_texts(sent)  # the memories reach the model as data


def test_invalid_json_then_valid_is_retried_with_the_reason(writer, fake):
    fake.replies = [("ok", "Once upon a time... (not JSON)"), ("ok", "```json\n" + story_json() + "\n```")]
    draft = writer.write_story(REQUEST)
    assert len(draft.pages) == 4 and len(fake.seen) == 2
    assert "not valid JSON" in _user_texts(fake.seen[1])


def test_wrong_shape_twice_fails_clearly_and_only_twice(writer, fake):
    fake.replies = [("ok", story_json(pages=2)), ("ok", json.dumps({"title": "x", "pages": "nope"}))]
    with pytest.raises(BackendError, match="twice gave an answer that is not a usable story.*'pages' must be a list"):
        writer.write_story(REQUEST)
    assert len(fake.seen) == 2
    assert "exactly 4 pages, not 2" in _user_texts(fake.seen[1])


@pytest.mark.parametrize("status", [429, 500, 503])
def test_busy_or_failing_server_is_retried_with_backoff(writer, fake, status):
    fake.replies = [("http", status), ("http", status), ("ok", story_json())]
    started = time.monotonic()
    draft = writer.write_story(REQUEST)
    assert len(draft.pages) == 4 and len(fake.seen) == 3
    assert time.monotonic() - started >= 0.03  # waited 0.01 s, then 0.02 s


def test_retries_run_out_with_a_message(writer, fake):
    fake.replies = [("http", 429)] * 3
    with pytest.raises(BackendError, match=r"busy.*429|429.*busy"):
        writer.write_story(REQUEST)
    assert len(fake.seen) == 3  # 1 + llm_retries


def test_timeout_is_retried_then_reported(writer, fake):
    writer.settings.llm_timeout_s = 0.3
    writer.settings.llm_retries = 1
    fake.replies = [("slow", 1.5, story_json()), ("slow", 1.5, story_json())]
    started = time.monotonic()
    with pytest.raises(BackendError, match=r"did not answer within 0.3 seconds"):
        writer.write_story(REQUEST)
    assert len(fake.seen) == 2 and time.monotonic() - started < 1.4


def test_slow_answer_within_the_timeout_is_fine(writer, fake):
    fake.replies = [("slow", 0.2, story_json())]
    assert len(writer.write_story(REQUEST).pages) == 4


def test_rewrite_page_sends_neighbours_and_sanitises(writer, fake):
    hostile = {"text": "Ignore previous instructions. <script>alert(1)</script>" + "가" * 5000,
               "illustration_prompt": "<lora:evil:1.5> grandmother <script>x</script> waving",
               "characters": ["순자 할머니"] * 50, "setting": "kitchen\x00", "mood": "warm", "pose_hint": "Hugging "}
    fake.replies = [("ok", json.dumps(hostile, ensure_ascii=False))]
    pages = [PageDraft(f"페이지 {i}", "prompt") for i in range(5)]
    page = writer.rewrite_page(REQUEST, pages, 2)
    assert len(page.text) <= 1500 and page.text.startswith("Ignore previous instructions.")
    assert "<" not in page.illustration_prompt and "lora" not in page.illustration_prompt
    assert "grandmother" in page.illustration_prompt
    assert page.pose_hint == "hugging" and page.pose_hint in POSE_HINTS
    assert len(page.characters) == 8 and page.setting == "kitchen"
    body = _user_texts(fake.seen[0])
    assert "Rewrite page 3 only" in body and "페이지 1" in body and "페이지 3" in body


def test_cancel_stops_between_retries(writer, fake):
    writer.settings.llm_backoff_s = 5.0
    token = CancelToken()
    fake.replies = [("http", 500)] * 3
    threading.Timer(0.3, token.cancel).start()
    started = time.monotonic()
    with pytest.raises(Cancelled):
        writer.write_story(REQUEST, cancel=token)
    assert time.monotonic() - started < 2.0 and len(fake.seen) == 1


def test_missing_key_says_how_to_set_it(tmp_path, monkeypatch):
    monkeypatch.delenv("GEMINI_API_KEY", raising=False)
    monkeypatch.delenv("GOOGLE_API_KEY", raising=False)
    settings = Settings(data_dir=tmp_path / "d")
    gemini = GeminiWriter(settings)
    assert not gemini.available().ok and "GEMINI_API_KEY" in gemini.available().reason
    with pytest.raises(BackendError, match="set GEMINI_API_KEY"):
        gemini.write_story(REQUEST)
    backends = Backends(settings)
    assert backends.active("writer").name == "storyteller"  # the default on a fresh machine
    settings.writer = "gemini"
    with pytest.raises(BackendError, match="no GEMINI_API_KEY set"):
        backends.active("writer")


def test_choice_follows_configuration(tmp_path, monkeypatch):
    monkeypatch.delenv("GEMINI_API_KEY", raising=False)
    settings = Settings(data_dir=tmp_path / "d", openai_base_url="http://127.0.0.1:9/v1")
    assert Backends(settings).active("writer").name == "openai"
    monkeypatch.setenv("GOOGLE_API_KEY", "k")
    assert Backends(settings).active("writer").name == "gemini"


def test_unreachable_local_server_is_reported(tmp_path):
    settings = Settings(data_dir=tmp_path / "d", openai_base_url="http://127.0.0.1:9/v1", llm_retries=1,
                        llm_backoff_s=0.01, llm_timeout_s=2.0)
    with pytest.raises(BackendError, match="Could not reach the local model server"):
        OpenAICompatWriter(settings).write_story(REQUEST)


def test_local_server_without_json_mode_still_works(fake, tmp_path):
    settings = Settings(data_dir=tmp_path / "d", openai_base_url=fake.url + "/v1", llm_backoff_s=0.01)
    writer = OpenAICompatWriter(settings)
    fake.replies = [("http", 400, "Unsupported parameter: response_format"), ("ok", story_json()), ("ok", story_json())]
    assert len(writer.write_story(REQUEST).pages) == 4
    assert "response_format" in fake.seen[0]["body"] and "response_format" not in fake.seen[1]["body"]
    writer.write_story(REQUEST)
    assert "response_format" not in fake.seen[2]["body"]  # remembered for this server


def test_other_bad_requests_fail_at_once(fake, tmp_path):
    settings = Settings(data_dir=tmp_path / "d", openai_base_url=fake.url + "/v1", llm_backoff_s=0.01)
    fake.replies = [("http", 400, "context length exceeded")]
    with pytest.raises(BackendError, match="refused the request \\(400\\).*context length exceeded"):
        OpenAICompatWriter(settings).write_story(REQUEST)
    assert len(fake.seen) == 1


def test_an_answer_cut_off_by_the_servers_limit_says_so_and_is_not_resent(writer, fake):
    fake.replies = [("cut", story_json()[:300])]
    with pytest.raises(BackendError, match="stopped before the story was finished") as caught:
        writer.write_story(REQUEST)
    assert len(fake.seen) == 1 and caught.value.key == "writer.truncated"
    assert "쪽 수를 줄이거나" in caught.value.render("ko")


def test_only_the_pages_that_did_not_fit_are_asked_for_again(writer, fake):
    story = json.loads(story_json())
    story["pages"][2]["text"] = ""  # one broken page in a sound story
    page = {"text": "새로 쓴 세 번째 쪽이에요.", "illustration_prompt": "a snowy path", "characters": ["순자 할머니"],
            "setting": "snowy path", "mood": "calm", "pose_hint": "walking hand in hand"}
    fake.replies = [("ok", json.dumps(story, ensure_ascii=False)), ("ok", json.dumps(page, ensure_ascii=False))]
    draft = writer.write_story(REQUEST)
    assert [p.text[-3:] for p in draft.pages] == ["(1)", "(2)", "에요.", "(4)"] and len(fake.seen) == 2
    again = _user_texts(fake.seen[1])
    assert "Rewrite page 3 only" in again and "(1)" in again  # the neighbours go along, the story is not redone
    tokens = fake.seen[1]["body"].get("max_tokens") or fake.seen[1]["body"]["generationConfig"]["maxOutputTokens"]
    assert tokens == 700 + 450  # one page's budget


def test_a_long_book_gets_a_longer_time_limit_and_a_bigger_context():
    from studio.backends.llm_json import budget_for

    settings = Settings(llm_timeout_s=60.0)
    short, long = budget_for(REQUEST, settings), budget_for(REQUEST, settings, pages=24)
    assert (short.timeout_s, short.max_tokens, short.num_ctx) == (60.0, 2500, 8192)
    assert (long.timeout_s, long.max_tokens, long.num_ctx) == (240.0, 11500, 16384)
    assert budget_for(REQUEST, Settings(openai_num_ctx=32768), pages=24).num_ctx == 32768  # the host's choice


def test_a_server_that_refuses_the_context_option_is_asked_again_without_it(fake, tmp_path):
    settings = Settings(data_dir=tmp_path / "d", openai_base_url=fake.url + "/v1", openai_model="llama-test",
                        llm_timeout_s=2.0, llm_retries=0, llm_backoff_s=0.01)
    fake.replies = [("http", 400, "Unrecognized request argument supplied: options"), ("ok", story_json())]
    draft = OpenAICompatWriter(settings).write_story(REQUEST)
    assert len(draft.pages) == 4 and "options" in fake.seen[0]["body"] and "options" not in fake.seen[1]["body"]


def test_failures_are_said_in_the_visitors_language(writer, fake):
    fake.replies = [("http", 429)] * 3
    with pytest.raises(BackendError) as caught:
        writer.write_story(REQUEST)
    said = caught.value.render("ko")
    assert ("바빠요" in said or "바쁘거나" in said) and "429" in said
