"""Proves tests/spec_check.py accepts the seeds' requests and rejects each kind of spec violation."""

from __future__ import annotations

import base64
import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.spec_check import (
    assert_request_matches_spec,
    load_spec,
    request_problems,
    response_matches_spec,
    specs_dir,
)

BASE_URLS = {"stackone": "http://stackone.test", "kombo": "http://kombo.test/v1", "unified_to": "http://unified.test"}
BASIC = "Basic " + base64.b64encode(b"stackone-key:").decode()

# Seed 001 (StackOne API reference) body, minus the top-level `id` the current API dropped (providers.md §1.7).
STACKONE_BODY: dict[str, Any] = {
    "score": {"label": "Percentage", "value": "80", "min": "0", "max": "100"},
    "start_date": "2021-01-01T01:01:01.000Z",
    "submission_date": "2021-01-01T01:01:01.000Z",
    "summary": "Test is passed",
    "result": {"value": "passed", "source_value": "Passed"},
    "result_url": "https://exmaple.com/result?id=xyz",
    "attachments": [
        {"url": "http://example.com/resume.pdf", "content_type": {"value": "text", "source_value": "Text"}},
    ],
    "candidate": {"id": "8187e5da-dc77-475e-9949-af0f1fa4e4e3", "profile_url": "https://exmaple.com/candidate?id=xyz"},
    "passthrough": {"other_known_names": "John Doe"},
}
# Seed 002 (Kombo TS SDK) example, with status COMPLETED and completed_at as the docs ask for COMPLETED.
KOMBO_BODY: dict[str, Any] = {
    "status": "COMPLETED",
    "result_url": "https://serene-bump.org/",
    "completed_at": "2024-05-01T10:00:00.000Z",
}
# Seed 004 (Unified API reference) PUT body: the two required ids plus a typical result.
UNIFIED_BODY: dict[str, Any] = {
    "workspace_id": "ws_5de520f96e439b002043d8da",
    "connection_id": "5de520f96e439b002043d8dc",
    "status": "COMPLETED",
    "response_status": "COMPLETED",
    "response_score": 80,
    "response_max_score": 100,
    "response_url": "https://vendor.example/results/1",
    "response_completed_at": "2024-05-01T10:00:00Z",
}


def stackone_request(**changes: Any) -> httpx.Request:
    return _request(
        "stackone", "PATCH", "/unified/ats/assessments/orders/8187e5da/result",
        {"Authorization": BASIC, "x-account-id": "acct-1"}, STACKONE_BODY, changes,
    )


def kombo_request(**changes: Any) -> httpx.Request:
    return _request(
        "kombo", "PUT", "/assessment/orders/GRKdd9dibYKKCrmGRSMJf3wu/result",
        {"Authorization": "Bearer kombo-key", "X-Integration-Id": "recruitee:HWUTwvyx2wLoSUHphiWVrp28"},
        KOMBO_BODY, changes,
    )


def unified_request(**changes: Any) -> httpx.Request:
    return _request(
        "unified_to", "PUT", "/assessment/5de520f96e439b002043d8dc/order/5de520f96e439b002043d8d8",
        {"Authorization": "Bearer unified-key"}, UNIFIED_BODY, changes,
    )


BUILDERS: dict[str, Callable[..., httpx.Request]] = {
    "stackone": stackone_request,
    "kombo": kombo_request,
    "unified_to": unified_request,
}


def _request(
    provider: str, method: str, path: str, headers: dict[str, str], body: dict[str, Any], changes: dict[str, Any],
) -> httpx.Request:
    """Build the valid request, then apply: method, path, base, drop_headers, headers, body (callable or value), params."""
    all_headers = {k: v for k, v in headers.items() if k.lower() not in changes.get("drop_headers", ())}
    all_headers.update(changes.get("headers", {}))
    new_body = copy.deepcopy(body)
    edit = changes.get("body")
    if callable(edit):
        edit(new_body)
    elif "body" in changes:
        new_body = edit
    url = changes.get("base", BASE_URLS[provider]) + changes.get("path", path)
    kwargs: dict[str, Any] = {"headers": all_headers, "params": changes.get("params")}
    if new_body is not None:
        kwargs["json"] = new_body
    return httpx.Request(changes.get("method", method), url, **kwargs)


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    """A body edit setting a dotted path (creating nothing): `_set("score.value", 80)`."""
    *parents, leaf = path.split(".")

    def edit(body: dict[str, Any]) -> None:
        node = body
        for key in parents:
            node = node[key]
        node[leaf] = value

    return edit


def _drop(key: str) -> Callable[[dict[str, Any]], None]:
    return lambda body: body.pop(key)


# --------------------------------------------------------------------------- correct requests pass


@pytest.mark.parametrize("provider", sorted(BUILDERS))
def test_seed_request_passes(provider: str) -> None:
    assert_request_matches_spec(provider, BUILDERS[provider]())


@pytest.mark.parametrize(
    ("_case", "provider", "changes"),
    [
        ("stackone_prefer_heartbeat", "stackone", {"headers": {"Prefer": "heartbeat"}}),
        ("stackone_result_in_progress", "stackone", {"body": _set("result.value", "in_progress")}),
        ("stackone_result_initiated", "stackone", {"body": _set("result.value", "initiated")}),
        ("stackone_result_unmapped", "stackone", {"body": _set("result.value", "unmapped_value")}),
        ("stackone_attachment_pdf", "stackone",
         {"body": lambda b: b["attachments"][0]["content_type"].update(value="pdf")}),
        ("stackone_attachment_video", "stackone",
         {"body": lambda b: b["attachments"][0]["content_type"].update(value="video")}),
        ("stackone_attachment_other", "stackone",
         {"body": lambda b: b["attachments"][0]["content_type"].update(value="other")}),
        ("stackone_documented_nulls", "stackone", {"body": {"result_url": None, "score": None, "result": None}}),
        ("stackone_empty_body", "stackone", {"body": {}}),
        ("stackone_lowercase_headers", "stackone",
         {"drop_headers": ("authorization", "x-account-id"), "headers": {"authorization": BASIC, "X-ACCOUNT-ID": "a"}}),
        ("kombo_without_base_path", "kombo", {"base": "http://kombo.test"}),
        ("kombo_deeper_base_path", "kombo", {"base": "http://gateway.test/proxy/kombo/v1"}),
        ("kombo_lowercase_tenant", "kombo",
         {"drop_headers": ("x-integration-id",), "headers": {"x-integration-id": "recruitee:abc"}}),
        ("kombo_full_body", "kombo", {"body": _set("attributes", [
            {"type": "TEXT", "label": "Role fit", "value": "Excellent"},
            {"type": "SUB_RESULT", "id": "t1", "label": "Logic", "score": {"value": 97, "max": 100},
             "status": "COMPLETED"},
        ])}),
        ("kombo_score_numbers", "kombo", {"body": lambda b: b.update(score=87.5, max_score=100)}),
        ("unified_patch", "unified_to", {"method": "PATCH"}),
        ("unified_fields_query", "unified_to", {"params": {"fields": ["id", "status"], "raw": "foo%3Dbar"}}),
    ],
)
def test_valid_variant_passes(_case: str, provider: str, changes: dict[str, Any]) -> None:
    assert request_problems(provider, BUILDERS[provider](**changes)) == []


def test_kombo_list_orders_query_passes() -> None:
    request = kombo_request(
        method="GET", path="/assessment/orders", body=None,
        params={"statuses": "OPEN,COMPLETED", "page_size": "100", "cursor": "abc",
                "created_after": "2024-05-01T10:00:00.000Z"},
    )
    assert_request_matches_spec("kombo", request)


# --------------------------------------------------------------------------- violations fail


FAILURES = [
    # unknown path
    ("stackone_unknown_path", "stackone", {"path": "/unified/ats/assessments/orders/x/outcome"}, "no path"),
    ("kombo_unknown_path", "kombo", {"path": "/assessment/order/x/result"}, "no path"),
    ("unified_unknown_path", "unified_to", {"path": "/assessment/c1/orders/o1"}, "no path"),
    # wrong method
    ("stackone_wrong_method", "stackone", {"method": "PUT"}, "PUT not allowed"),
    ("kombo_wrong_method", "kombo", {"method": "PATCH"}, "PATCH not allowed"),
    ("unified_wrong_method", "unified_to", {"method": "POST"}, "POST not allowed"),
    # missing or malformed auth
    ("stackone_missing_auth", "stackone", {"drop_headers": ("authorization",)}, "Authorization: Basic"),
    ("stackone_bearer_instead_of_basic", "stackone",
     {"drop_headers": ("authorization",), "headers": {"Authorization": "Bearer k"}}, "Authorization: Basic"),
    ("stackone_basic_not_base64", "stackone",
     {"drop_headers": ("authorization",), "headers": {"Authorization": "Basic not*base64"}}, "base64"),
    ("kombo_missing_auth", "kombo", {"drop_headers": ("authorization",)}, "Authorization: Bearer"),
    ("kombo_basic_instead_of_bearer", "kombo",
     {"drop_headers": ("authorization",), "headers": {"Authorization": BASIC}}, "Authorization: Bearer"),
    ("unified_missing_auth", "unified_to", {"drop_headers": ("authorization",)}, "'authorization'"),
    # missing tenant header
    ("stackone_missing_account", "stackone", {"drop_headers": ("x-account-id",)}, "'x-account-id'"),
    ("kombo_missing_integration", "kombo", {"drop_headers": ("x-integration-id",)}, "'X-Integration-Id'"),
    # body types and rules
    ("stackone_score_value_number", "stackone", {"body": _set("score.value", 80)}, r"body\.score\.value: 80"),
    ("stackone_result_bogus", "stackone", {"body": _set("result.value", "bogus")}, r"body\.result\.value: 'bogus'"),
    ("stackone_attachment_bogus", "stackone",
     {"body": lambda b: b["attachments"][0]["content_type"].update(value="zip")}, "'zip'"),
    ("stackone_bad_date", "stackone", {"body": _set("start_date", "yesterday")}, "date-time"),
    ("stackone_missing_body", "stackone", {"body": None}, "body is required"),
    ("stackone_prefer_other", "stackone", {"headers": {"Prefer": "respond-async"}}, "'Prefer'"),
    ("kombo_score_string", "kombo", {"body": _set("score", "90")}, r"body\.score: '90'"),
    ("kombo_score_null", "kombo", {"body": _set("score", None)}, r"body\.score: None"),
    ("kombo_missing_result_url", "kombo", {"body": _drop("result_url")}, "'result_url' is a required"),
    ("kombo_result_url_not_uri", "kombo", {"body": _set("result_url", "not a uri")}, "uri"),
    ("kombo_six_attachments", "kombo",
     {"body": _set("attachments", [{"name": f"r{i}.pdf", "data_url": "https://x.test/r.pdf"} for i in range(6)])},
     "too long"),
    ("kombo_status_rejected", "kombo", {"body": _set("status", "REJECTED")}, "'REJECTED'"),
    ("kombo_completed_at_format", "kombo", {"body": _set("completed_at", "01/05/2024")}, "completed_at"),
    ("kombo_page_size_too_big", "kombo",
     {"method": "GET", "path": "/assessment/orders", "body": None, "params": {"page_size": "300"}}, "page_size"),
    ("unified_missing_workspace", "unified_to", {"body": _drop("workspace_id")}, "'workspace_id' is a required"),
    ("unified_status_cancelled", "unified_to", {"body": _set("status", "CANCELLED")}, "'CANCELLED'"),
    ("unified_score_string", "unified_to", {"body": _set("response_score", "80")}, "response_score"),
    ("unified_fields_enum", "unified_to", {"params": {"fields": "bogus"}}, "'fields'"),
    ("unified_unknown_query", "unified_to", {"params": {"limit": "5"}}, "'limit' is not declared"),
]


@pytest.mark.parametrize(("_case", "provider", "changes", "expected"), FAILURES)
def test_violation_fails(_case: str, provider: str, changes: dict[str, Any], expected: str) -> None:
    with pytest.raises(AssertionError, match=expected):
        assert_request_matches_spec(provider, BUILDERS[provider](**changes))


def test_failure_lists_every_problem() -> None:
    request = kombo_request(drop_headers=("authorization", "x-integration-id"), body=lambda b: b.update(score="x"))
    problems = request_problems("kombo", request)
    assert len(problems) == 3
    with pytest.raises(AssertionError) as raised:
        assert_request_matches_spec("kombo", request)
    for problem in problems:
        assert problem in str(raised.value)


def test_non_json_content_type_fails() -> None:
    request = httpx.Request(
        "PUT", BASE_URLS["kombo"] + "/assessment/orders/o1/result", content=b'{"status": "OPEN"}',
        headers={"Authorization": "Bearer k", "X-Integration-Id": "a:b", "Content-Type": "text/plain"},
    )
    with pytest.raises(AssertionError, match="Content-Type"):
        assert_request_matches_spec("kombo", request)


def test_body_on_bodyless_operation_fails() -> None:
    request = kombo_request(method="GET", path="/assessment/orders")
    with pytest.raises(AssertionError, match="takes no request body"):
        assert_request_matches_spec("kombo", request)


# --------------------------------------------------------------------------- overlay and loading


def test_overlay_only_widens_documented_enums() -> None:
    schemas = load_spec("stackone")["components"]["schemas"]
    result_enum = schemas["ResultEnum"]["properties"]["value"]["enum"]
    content_enum = schemas["AttachmentContentType"]["properties"]["value"]["enum"]
    assert set(result_enum) == {
        "cancelled", "completed", "expired", "failed", "passed", "initiated", "in_progress", "unmapped_value", None,
    }
    assert set(content_enum) == {"text", "unmapped_value", "pdf", "video", "other", None}


def test_spec_is_parsed_once() -> None:
    assert load_spec("unified_to") is load_spec("unified_to")


def test_unknown_provider_is_rejected() -> None:
    with pytest.raises(ValueError, match="unknown provider"):
        load_spec("greenhouse")


def test_specs_dir_default_and_override(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PROVIDER_SPECS_DIR", raising=False)
    assert (specs_dir() / "kombo" / "kombo-openapi.json").is_file()
    monkeypatch.setenv("PROVIDER_SPECS_DIR", "/elsewhere/specs")
    assert specs_dir() == Path("/elsewhere/specs")


# --------------------------------------------------------------------------- responses (optional helper)


@pytest.mark.parametrize(
    ("_case", "provider", "method", "path", "status", "body"),
    [
        ("stackone_update_ok", "stackone", "PATCH", "/unified/ats/assessments/orders/o1/result", 200,
         {"statusCode": 200, "message": "Record updated successfully.", "timestamp": "2021-01-01T01:01:01.000Z"}),
        ("kombo_put_ok", "kombo", "PUT", "/v1/assessment/orders/o1/result", 200,
         {"status": "success", "data": {}, "warnings": []}),
        ("kombo_error_default", "kombo", "PUT", "/v1/assessment/orders/o1/result", 409,
         {"status": "error", "error": {"code": "PLATFORM.INPUT_INVALID", "title": None, "message": "m",
                                       "log_url": None}}),
        ("unified_put_ok", "unified_to", "PUT", "/assessment/c1/order/o1", 200, UNIFIED_BODY),
    ],
)
def test_response_passes(_case: str, provider: str, method: str, path: str, status: int, body: object) -> None:
    response_matches_spec(provider, method, path, status, body)


@pytest.mark.parametrize(
    ("_case", "provider", "method", "path", "status", "body", "expected"),
    [
        ("stackone_missing_timestamp", "stackone", "PATCH", "/unified/ats/assessments/orders/o1/result", 200,
         {"statusCode": 200, "message": "ok"}, "'timestamp' is a required"),
        ("kombo_missing_warnings", "kombo", "PUT", "/v1/assessment/orders/o1/result", 200,
         {"status": "success", "data": {}}, "'warnings' is a required"),
        ("unified_undeclared_status", "unified_to", "PUT", "/assessment/c1/order/o1", 500, {}, "not declared"),
    ],
)
def test_response_violation_fails(
    _case: str, provider: str, method: str, path: str, status: int, body: object, expected: str,
) -> None:
    with pytest.raises(AssertionError, match=expected):
        response_matches_spec(provider, method, path, status, body)
