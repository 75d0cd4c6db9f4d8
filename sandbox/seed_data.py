"""The sandbox credentials and seeded orders, each in its provider's own wire shape (fixed 2026 dates)."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

SANDBOX_CREDENTIALS: dict[str, dict[str, str]] = {
    "stackone": {
        "api_key": "sandbox-stackone-key",
        "account_id": "sandbox-account-1",
        "webhook_secret": "sandbox-stackone-webhook-secret",
    },
    "kombo": {
        "api_key": "sandbox-kombo-key",
        "integration_id": "greenhouse:sandbox1",
        "webhook_secret": "sandbox-kombo-webhook-secret",
    },
    "unified_to": {
        "api_key": "sandbox-unified-key",
        "connection_id": "66a1f0c2b7e4a9d3c1f0e8a1",
        "workspace_id": "66a1f0c2b7e4a9d3c1f0e8a0",
        "webhook_secret": "sandbox-unified-workspace-secret",
    },
}

# (first, last, email, phone, package id, package name, job title, job code, city, country)
_PEOPLE = [
    ("Ada", "Lovelace", "ada.lovelace@example.com", "+44 20 7946 0958", "typescript-senior",
     "TypeScript (senior)", "Senior Frontend Engineer", "ENG-2026-014", "London", "GB"),
    ("Grace", "Hopper", "grace.hopper@example.com", "+1 212 555 0147", "sql-fundamentals",
     "SQL fundamentals", "Data Analyst", "DATA-2026-003", "New York", "US"),
    ("Alan", "Turing", "alan.turing@example.com", "+44 161 496 0321", "cognitive-ability-v2",
     "Cognitive ability v2", "Graduate Software Engineer", "ENG-2026-021", "Manchester", "GB"),
    ("Katherine", "Johnson", "katherine.johnson@example.com", "+1 757 555 0199", "background-check-standard",
     "Background check (standard)", "Flight Operations Analyst", "OPS-2026-007", "Hampton", "US"),
    ("Linus", "Torvalds", "linus.torvalds@example.com", "+358 9 4289 1100", "typescript-senior",
     "TypeScript (senior)", "Staff Platform Engineer", "ENG-2026-030", "Helsinki", "FI"),
    ("Margaret", "Hamilton", "margaret.hamilton@example.com", "+1 617 555 0123", "sql-fundamentals",
     "SQL fundamentals", "Backend Engineer", "ENG-2026-033", "Boston", "US"),
]  # fmt: skip


def person(index: int) -> dict[str, str]:
    """Seed person `index` (cycling), the template for seeded and newly created orders."""
    keys = ("first", "last", "email", "phone", "package", "package_name", "title", "code", "city", "country")
    return dict(zip(keys, _PEOPLE[index % len(_PEOPLE)], strict=True))


_person = person


# --------------------------------------------------------------------------- StackOne (SO-spec-2502 AssessmentOrder)

_STACKONE_IDS = [
    "5b1c3f0e-2a7d-4c8e-9f10-3d2e1a4b5c60",
    "6c2d4a1f-3b8e-4d9f-8a21-4e3f2b5c6d71",
    "7d3e5b2a-4c9f-4eaa-9b32-5f4a3c6d7e82",
    "8e4f6c3b-5dab-4fbb-8c43-6a5b4d7e8f93",
    "9f5a7d4c-6ebc-4acc-9d54-7b6c5e8f9aa4",
    "a06b8e5d-7fcd-4bdd-8e65-8c7d6f9aabb5",
]


def _stackone_order(index: int) -> dict[str, Any]:
    return stackone_order(_person(index), _STACKONE_IDS[index], index + 1)


def stackone_order(p: dict[str, str], oid: str, n: int) -> dict[str, Any]:
    """A StackOne `AssessmentOrder` for person `p`; `n` numbers its candidate, application and job."""
    return {
        "id": oid,
        "remote_id": f"gh-assessment-{4100 + n}",
        "package": {"id": f"pkg-{p['package']}", "remote_id": p["package"], "name": p["package_name"],
                    "description": f"{p['package_name']} assessment"},
        "application": {"id": f"app-so-{n:04d}", "remote_id": f"{72000 + n}",
                        "application_status": {"value": "assessment", "source_value": "Assessment"}},
        "job": {"id": f"job-so-{n:04d}", "remote_id": f"{51000 + n}", "title": p["title"],
                "hiring_team": [{"user_id": f"user-so-{n}", "remote_user_id": f"{9000 + n}", "first_name": "Rita",
                                 "last_name": "Recruiter", "email": "rita.recruiter@example.com",
                                 "role": "recruiter"}]},
        "candidate": {"id": f"cand-so-{n:04d}", "remote_id": f"{33000 + n}", "first_name": p["first"],
                      "last_name": p["last"], "emails": [{"type": "personal", "value": p["email"]}],
                      "profile_url": f"https://app.greenhouse.example/people/{33000 + n}"},
        "requester": {"user_id": f"user-so-{n}", "remote_user_id": f"{9000 + n}", "first_name": "Rita",
                      "last_name": "Recruiter", "email": "rita.recruiter@example.com", "role": "recruiter"},
        "results_update_url": f"https://api.stackone.com/unified/ats/assessments/orders/{oid}/result",
    }  # fmt: skip


def _stackone_result(value: str, source: str, day: int, score: str | None) -> dict[str, Any]:
    result: dict[str, Any] = {
        "start_date": f"2026-03-{day:02d}T09:00:00.000Z",
        "result": {"value": value, "source_value": source},
    }
    if score is not None:
        result.update({
            "score": {"label": "Percentage", "value": score, "min": "0", "max": "100"},
            "submission_date": f"2026-03-{day:02d}T10:12:30.000Z",
            "summary": "Strong problem solving; clean, tested code.",
            "result_url": f"https://vendor.example/results/so-{day}",
        })  # fmt: skip
    return result


_STACKONE_RESULTS = {
    _STACKONE_IDS[3]: _stackone_result("in_progress", "In progress", 12, None),
    _STACKONE_IDS[4]: _stackone_result("passed", "Passed", 14, "86"),
    _STACKONE_IDS[5]: _stackone_result("cancelled", "Cancelled", 16, None),
}


def stackone_orders() -> dict[str, dict[str, Any]]:
    return {oid: _stackone_order(i) for i, oid in enumerate(_STACKONE_IDS)}


def stackone_results() -> dict[str, dict[str, Any]]:
    """Orders 0-2 have no result (open); 3 in_progress, 4 passed, 5 cancelled."""
    return copy.deepcopy(_STACKONE_RESULTS)


# The one seeded order whose webhook carries ids only (the receiver fetches the ATS records).
STACKONE_IDS_ONLY = frozenset({_STACKONE_IDS[2]})
_CURRENT_TITLES = ("Frontend Engineer", "Reporting Analyst", "Research Assistant", "Mathematician",
                   "Kernel Developer", "Software Engineer")  # fmt: skip


def stackone_ats_records(
    order: dict[str, Any], p: dict[str, str], created: str, title: str | None = None
) -> dict[str, dict[str, Any]]:
    """The ATS `Candidate`, `Application` and `Job` (SO-spec CandidateResult/ApplicationResult/JobResult
    `data`) behind a StackOne order, keyed "candidate" / "application" / "job"."""
    cand, app, job = order["candidate"], order["application"], order["job"]
    name = " ".join(x for x in (cand.get("first_name"), cand.get("last_name")) if x) or None
    emails = cand.get("emails") or []
    email = emails[0]["value"] if emails else None
    phones = [{"type": "mobile", "phone": p["phone"]}] if p.get("phone") else []
    stamps = {"created_at": created, "updated_at": created}
    candidate = {
        "id": cand["id"], "remote_id": cand.get("remote_id"), "name": name,
        "first_name": cand.get("first_name"), "last_name": cand.get("last_name"), "email": email,
        "emails": emails, "phone_numbers": phones, "social_links": [], "company": None, "title": title,
        "country": p.get("country"), "application_ids": [app["id"]],
        "remote_application_ids": [app.get("remote_id")] if app.get("remote_id") else [], **stamps,
    }  # fmt: skip
    application = {
        "id": app["id"], "remote_id": app.get("remote_id"), "candidate_id": cand["id"],
        "remote_candidate_id": cand.get("remote_id"), "job_id": job["id"], "remote_job_id": job.get("remote_id"),
        "application_status": app.get("application_status"),
        "candidate": {"name": name, "first_name": cand.get("first_name"), "last_name": cand.get("last_name"),
                      "email": email, "emails": emails, "phone_numbers": phones, "title": title},
        **stamps,
    }  # fmt: skip
    job_record = {
        "id": job["id"], "remote_id": job.get("remote_id"), "code": p.get("code"), "title": job.get("title"),
        "job_status": {"value": "open", "source_value": "Open"}, "hiring_team": job.get("hiring_team") or [],
        **stamps,
    }  # fmt: skip
    return {"candidate": candidate, "application": application, "job": job_record}


def stackone_ats() -> dict[str, dict[str, dict[str, Any]]]:
    """The seeded ATS records: kind ("candidate" | "application" | "job") -> id -> record."""
    records: dict[str, dict[str, dict[str, Any]]] = {"candidate": {}, "application": {}, "job": {}}
    for index in range(len(_STACKONE_IDS)):
        created = f"2026-03-{index + 2:02d}T08:00:00.000Z"
        built = stackone_ats_records(_stackone_order(index), _person(index), created, _CURRENT_TITLES[index])
        for kind, record in built.items():
            records[kind][record["id"]] = record
    return records


# --------------------------------------------------------------------------- Kombo (GET /assessment/orders item)

_KOMBO = [  # id, status, created_at
    ("Qm3XbV9tKp2LwZ7rNc4HdY8s", "OPEN", datetime(2026, 3, 2, 8, 15, tzinfo=UTC)),
    ("Tz8PqL2mWc5RvX9kBn3JfH6d", "OPEN", datetime(2026, 3, 9, 14, 40, tzinfo=UTC)),
    ("Hc6YwN4pZr8TkM2vQx7LbD5g", "OPEN", datetime(2026, 3, 16, 11, 5, tzinfo=UTC)),
    ("Lp4KdR7xVn2QcW9mTz5BhJ3f", "COMPLETED", datetime(2026, 2, 20, 9, 30, tzinfo=UTC)),
    ("Wv9BnT3kHx6LpQ2rZc8MdF4y", "CANCELLED", datetime(2026, 2, 24, 16, 0, tzinfo=UTC)),
    ("Rx2MfJ8cPq5WzK9tLv3NbG7h", "REJECTED", datetime(2026, 2, 27, 10, 45, tzinfo=UTC)),
]


def _kombo_order(index: int) -> dict[str, Any]:
    oid, status, _ = _KOMBO[index]
    return kombo_order(_person(index), oid, index + 1, status)


def kombo_order(p: dict[str, str], oid: str, n: int, status: str) -> dict[str, Any]:
    """A Kombo order (GET /assessment/orders item) for person `p`."""
    return {
        "id": oid,
        "package_id": p["package"],
        "status": status,
        "candidate": {"remote_id": f"{44000 + n}", "email": p["email"], "first_name": p["first"],
                      "last_name": p["last"], "phone": p["phone"]},
        "application": {"remote_id": f"{81000 + n}"},
        "job": {"remote_id": f"{62000 + n}", "name": p["title"], "job_code": p["code"],
                "description": f"<p>Join us as a {p['title']}.</p>",
                "location": {"street_1": None, "street_2": None, "city": p["city"], "state": None,
                             "zip_code": None, "country": p["country"], "raw": f"{p['city']}, {p['country']}"},
                "hiring_team": [
                    {"remote_id": f"{7000 + n}", "email": "hana.manager@example.com", "first_name": "Hana",
                     "last_name": "Manager", "hiring_team_roles": ["HIRING_MANAGER"]},
                    {"remote_id": f"{7100 + n}", "email": "rita.recruiter@example.com", "first_name": "Rita",
                     "last_name": "Recruiter", "hiring_team_roles": ["RECRUITER"]},
                ]},
    }  # fmt: skip


def kombo_orders() -> dict[str, dict[str, Any]]:
    return {row[0]: _kombo_order(i) for i, row in enumerate(_KOMBO)}


def kombo_created_at() -> dict[str, datetime]:
    return {oid: created for oid, _, created in _KOMBO}


# --------------------------------------------------------------------------- Unified.to (AssessmentOrder)

_UNIFIED = [  # id, status, created_at
    ("66b2a1d3c4e5f60718293a01", "OPEN", "2026-04-01T08:00:00Z"),
    ("66b2a1d3c4e5f60718293a02", "OPEN", "2026-04-03T09:30:00Z"),
    ("66b2a1d3c4e5f60718293a03", "OPEN", "2026-04-06T13:45:00Z"),
    ("66b2a1d3c4e5f60718293a04", "IN_PROGRESS", "2026-03-25T10:00:00Z"),
    ("66b2a1d3c4e5f60718293a05", "COMPLETED", "2026-03-18T15:20:00Z"),
]


UNIFIED_WEBHOOK_ID = "66b2a0ffc4e5f60718290001"  # the sandbox's assessment_order webhook subscription


def _unified_order(index: int) -> dict[str, Any]:
    oid, status, created = _UNIFIED[index]
    return unified_order(_person(index), oid, index + 1, status, created)


def unified_order(p: dict[str, str], oid: str, n: int, status: str, created: str) -> dict[str, Any]:
    """A Unified.to `AssessmentOrder` for person `p`; non-OPEN orders get response_* fields."""
    creds = SANDBOX_CREDENTIALS["unified_to"]
    order: dict[str, Any] = {
        "id": oid, "created_at": created, "updated_at": created,
        "workspace_id": creds["workspace_id"], "connection_id": creds["connection_id"],
        "webhook_id": UNIFIED_WEBHOOK_ID, "package_id": p["package"],
        "target_url": "https://careers.example.com/assessment-complete", "status": status,
        "reference": f"GH-{55000 + n}", "application_id": f"{91000 + n}", "job_id": f"{64000 + n}",
        "candidate_id": f"{46000 + n}", "profile_name": f"{p['first']} {p['last']}",
        "profile_first_name": p["first"], "profile_last_name": p["last"],
        "profile_resume_url": f"https://files.example.com/resumes/{46000 + n}.pdf",
        "profile_emails": [p["email"]], "profile_telephones": [p["phone"]],
        "profile_addresses": [{"city": p["city"], "country_code": p["country"]}],
        "parameters": [{"parameter_id": "language", "name": "Language", "inputs": ["en"]}],
    }  # fmt: skip
    if status != "OPEN":
        order.update({"response_status": status, "response_issued_at": created,
                      "response_redirect_url": f"https://vendor.example/take/{oid}"})  # fmt: skip
    if status == "COMPLETED":
        order.update({
            "response_score": 78, "response_max_score": 100,
            "response_url": f"https://vendor.example/report/{oid}",
            "response_completed_at": "2026-03-19T11:02:00Z",
            "response_download_urls": [f"https://vendor.example/report/{oid}.pdf"],
            "response_details": [{"title": "Summary", "text": "Solid SQL; joins and window functions mastered."}],
            "response_attributes": [{"type": "SUB_RESULT", "label": "Joins", "score_value": 9, "score_max": 10,
                                     "status": "COMPLETED", "reference": "joins"}],
            "response_source": "vendor",
        })  # fmt: skip
    return order


def unified_orders() -> dict[str, dict[str, Any]]:
    return {row[0]: _unified_order(i) for i, row in enumerate(_UNIFIED)}
