"""The book routes over HTTP on the local stack (the template's API events, the real handler)."""

from __future__ import annotations

import json
import time
import urllib.parse

import pytest
from http_client import call

from tts_core.platform import storage
from tts_local.doubles import ToneEngine
from tts_local.http_api import ApiServer

pytestmark = pytest.mark.stack
BOOK = {"title": "Over HTTP", "chapters": [{"title": "One", "text": "First words. More words here."},
                                           {"title": "Two", "text": "Second chapter now."}]}
PARAMETERS = {"BookSegmentMaxChars": "20", "BookMaxConcurrency": "4", "LastResortEnabled": "false"}


def post(server: ApiServer, path: str, body: dict) -> tuple[int, dict]:
    return call(server, "POST", path, json.dumps(body).encode())


def until_done(server: ApiServer, status_url: str, timeout_s: float = 90) -> dict:
    path = urllib.parse.urlsplit(status_url).path
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        status, body = call(server, "GET", path)
        assert status == 200, body
        if body["status"] != "accepted":
            return body
        time.sleep(0.3)
    raise AssertionError(f"{status_url} still running")


def test_books_over_http_estimate_start_follow_retry_and_upload(local_stack) -> None:
    with local_stack(engines={"primary": ToneEngine("primary")}, **PARAMETERS) as stack:
        server = ApiServer(stack, port=0)
        server.start()
        try:
            status, estimate = post(server, "/api/books", BOOK | {"dry_run": True})
            assert status == 200, estimate
            assert [c["title"] for c in estimate["chapters"]] == ["One", "Two"]
            assert estimate["estimate"]["primary_invocations"] == estimate["segments"] > 0
            assert storage.list_keys(stack.bucket, "books/") == []  # a dry run writes nothing

            status, accepted = post(server, "/api/books", BOOK)
            assert status == 202 and accepted["status"] == "accepted", accepted
            assert accepted["status_url"].endswith(f"/api/jobs/{accepted['request_id']}")
            done = until_done(server, accepted["status_url"])
            assert done["status"] == "success", done
            assert [c["title"] for c in done["chapters"]] == ["One", "Two"]
            assert all(c["audio_url"] and c["srt_url"] and c["vtt_url"] for c in done["chapters"])
            assert done["manifest_url"]

            status, again = post(server, f"/api/jobs/{accepted['request_id']}/retry", {})
            assert status == 202 and again["request_id"] != accepted["request_id"]
            assert until_done(server, again["status_url"])["status"] == "success"

            status, refused = call(server, "DELETE", "/api/jobs/20260101T000000Z-000000000000")
            assert (status, refused["code"]) == (400, "INVALID_INPUT")
            status, ended = call(server, "DELETE", f"/api/jobs/{accepted['request_id']}")
            assert (status, ended["status"]) == (200, "success")  # already over: nothing to cancel

            status, too_long = post(server, "/api/books", {"title": "x", "text": "y" * 2_000_001})
            assert (status, too_long["code"]) == (413, "BOOK_TOO_LONG")  # refused at once: nothing started

            status, target = post(server, "/api/books/uploads", {"kind": "md", "title": "Uploaded",
                                                                  "options": {"voice": "en-male"}})
            assert status == 200, target
            assert target["key"] == f"inbox/books/{target['request_id']}.md"
            assert "Signature=" in target["upload_url"]
            # What the client's PUT to upload_url does: the object lands under the issued key.
            storage.aws.client("s3").put_object(Bucket=stack.bucket, Key=target["key"],
                                                Body=b"# Alpha\n\nA.\n\n# Beta\n\nB b.\n")
            uploaded = until_done(server, target["status_url"])
            assert uploaded["status"] == "success", uploaded
            assert [c["title"] for c in uploaded["chapters"]] == ["Alpha", "Beta"]
            plan = storage.get_json(stack.bucket, f"books/{target['request_id']}/plan.json")
            assert (plan["title"], plan["options"]["voice"]) == ("Uploaded", "en-male")
        finally:
            server.stop()


def test_a_running_book_reports_progress_and_cancel_ends_it(local_stack) -> None:
    primary = ToneEngine("primary", seconds_per_char=0.02)
    chapters = [{"title": f"C{i}", "text": " ".join(f"Sentence {i} {j} is here." for j in range(5))} for i in range(3)]
    with local_stack(engines={"primary": primary}, **(PARAMETERS | {"BookMaxConcurrency": "1"})) as stack:
        server = ApiServer(stack, port=0)
        server.start()
        try:
            _, accepted = post(server, "/api/books", {"title": "Slow", "chapters": chapters})
            path = urllib.parse.urlsplit(accepted["status_url"]).path
            deadline = time.monotonic() + 30
            while len(primary.calls) < 2 and time.monotonic() < deadline:
                time.sleep(0.05)
            _, running = call(server, "GET", path)
            assert running["status"] == "accepted"
            assert set(running["progress"]) == {"chapters_done", "chapters_total", "segments_done", "segments_total",
                                                "audio_seconds_done", "eta_seconds"}
            assert running["progress"]["chapters_total"] == 3
            status, cancelled = call(server, "DELETE", path)
            assert (status, cancelled["status"]) == (200, "cancelled")
            calls = len(primary.calls)
            time.sleep(1.5)
            assert len(primary.calls) == calls
            _, later = call(server, "GET", path)
            assert later["status"] == "cancelled" and later["progress"]["segments_done"] >= 1
        finally:
            server.stop()
