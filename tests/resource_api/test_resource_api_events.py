"""The events endpoints: CRUD, per-user isolation, validation, pagination."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from resource_api.extensions import db
from resource_api.models import Event

from .api_testing import assert_json_error, bearer

NEW = {
    "title": "Dentist",
    "description": "Bring the forms",
    "starts_at": "2026-03-02T09:00:00+01:00",
    "ends_at": "2026-03-02T10:00:00+01:00",
}


@pytest.fixture
def alice(client, token):
    """Alice's client: every request carries her token."""

    class As:
        def __getattr__(self, method):
            def call(path, **kwargs):
                headers = {**bearer(token), **kwargs.pop("headers", {})}
                return getattr(client, method)(path, headers=headers, **kwargs)

            return call

    return As()


@pytest.fixture
def bob_headers(make_token):
    return bearer(make_token(sub="bob"))


def create(alice, **changes):
    response = alice.post("/api/events", json={**NEW, **changes})
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def assert_field_error(response, field: str, fragment: str = "") -> None:
    body = assert_json_error(response, 400, "invalid_request")
    assert field in body["fields"], body
    assert fragment in body["fields"][field], body
    assert field in body["error_description"]


# -- create, read, update, delete ------------------------------------------------------------


def test_create_answers_201_with_location_and_the_event(alice, clock):
    response = alice.post("/api/events", json=NEW)
    assert response.status_code == 201
    event = response.get_json()
    assert response.headers["Location"] == f"/api/events/{event['id']}"
    now = datetime.fromtimestamp(clock(), UTC).isoformat().replace("+00:00", "Z")
    assert event == {
        "id": event["id"],
        "title": "Dentist",
        "description": "Bring the forms",
        "starts_at": "2026-03-02T08:00:00Z",  # stored and shown in UTC
        "ends_at": "2026-03-02T09:00:00Z",
        "created_at": now,
        "updated_at": now,
    }
    assert alice.get(response.headers["Location"]).get_json() == event


def test_description_is_optional(alice):
    event = create(alice, description=None)
    assert event["description"] is None
    payload = {k: v for k, v in NEW.items() if k != "description"}
    response = alice.post("/api/events", json=payload)
    assert response.status_code == 201
    assert response.get_json()["description"] is None


def test_title_is_trimmed(alice):
    assert create(alice, title="  Lunch  ")["title"] == "Lunch"


def test_patch_changes_only_the_given_fields(alice, clock):
    event = create(alice)
    clock.advance(60)
    response = alice.patch(f"/api/events/{event['id']}", json={"title": "Dentist (moved)"})
    assert response.status_code == 200
    changed = response.get_json()
    assert changed["title"] == "Dentist (moved)"
    for field in ("description", "starts_at", "ends_at", "created_at"):
        assert changed[field] == event[field]
    assert changed["updated_at"] > event["updated_at"]
    assert alice.get(f"/api/events/{event['id']}").get_json() == changed


def test_patch_can_clear_the_description(alice):
    event = create(alice)
    response = alice.patch(f"/api/events/{event['id']}", json={"description": None})
    assert response.get_json()["description"] is None


def test_patch_moves_both_times(alice):
    event = create(alice)
    response = alice.patch(
        f"/api/events/{event['id']}",
        json={"starts_at": "2026-04-01T12:00:00Z", "ends_at": "2026-04-01T13:30:00Z"},
    )
    assert response.status_code == 200
    assert response.get_json()["ends_at"] == "2026-04-01T13:30:00Z"


def test_delete_answers_204_and_the_event_is_gone(alice):
    event = create(alice)
    response = alice.delete(f"/api/events/{event['id']}")
    assert response.status_code == 204
    assert response.get_data() == b""
    assert_json_error(alice.get(f"/api/events/{event['id']}"), 404, "not_found")
    assert_json_error(alice.delete(f"/api/events/{event['id']}"), 404, "not_found")


def test_unknown_event_is_404(alice):
    assert_json_error(alice.get("/api/events/4242"), 404, "not_found")


def test_id_beyond_the_database_range_is_404_not_500(alice):
    assert_json_error(alice.get("/api/events/99999999999999999999"), 404, "not_found")
    assert_json_error(alice.patch("/api/events/2147483648", json={}), 404, "not_found")


# -- isolation -------------------------------------------------------------------------------


def test_another_users_event_is_404_for_every_method(alice, client, bob_headers):
    """Events belong to the token's sub: one user's token never sees another's (SPEC)."""
    event = create(alice)
    url = f"/api/events/{event['id']}"
    assert_json_error(client.get(url, headers=bob_headers), 404, "not_found")
    assert_json_error(
        client.patch(url, headers=bob_headers, json={"title": "mine now"}), 404, "not_found"
    )
    assert_json_error(client.delete(url, headers=bob_headers), 404, "not_found")
    assert alice.get(url).get_json() == event  # untouched


def test_lists_show_only_the_callers_events(alice, client, bob_headers):
    create(alice, title="Alice's")
    response = client.post("/api/events", headers=bob_headers, json={**NEW, "title": "Bob's"})
    assert response.status_code == 201
    assert [e["title"] for e in alice.get("/api/events").get_json()["items"]] == ["Alice's"]
    bobs = client.get("/api/events", headers=bob_headers).get_json()["items"]
    assert [e["title"] for e in bobs] == ["Bob's"]


# -- validation ------------------------------------------------------------------------------


@pytest.mark.parametrize("field", ["title", "starts_at", "ends_at"])
def test_required_fields_are_required_on_create(alice, field):
    payload = {k: v for k, v in NEW.items() if k != field}
    assert_field_error(alice.post("/api/events", json=payload), field, "required")


@pytest.mark.parametrize(
    ("changes", "field", "fragment"),
    [
        ({"title": ""}, "title", "empty"),
        ({"title": "   "}, "title", "empty"),
        ({"title": "x" * 201}, "title", "200"),
        ({"title": 5}, "title", "string"),
        ({"title": None}, "title", "string"),
        ({"title": "tab\there"}, "title", "control"),
        ({"title": "nul\u0000"}, "title", "control"),
        ({"title": "\ud800"}, "title", "Unicode"),
        ({"description": "x" * 5001}, "description", "5000"),
        ({"description": ["a"]}, "description", "string"),
        ({"description": "nul\u0000byte"}, "description", "control"),
        ({"starts_at": "2026-03-02T09:00:00"}, "starts_at", "time zone"),
        ({"starts_at": "2026-03-02"}, "starts_at", "time zone"),
        ({"starts_at": "next tuesday"}, "starts_at", "ISO 8601"),
        ({"starts_at": 1767225600}, "starts_at", "ISO 8601"),
        ({"starts_at": "2026-13-40T09:00:00Z"}, "starts_at", "ISO 8601"),
        ({"starts_at": "0001-01-01T00:00:00+01:00"}, "starts_at", "range"),
        ({"ends_at": "2026-03-02T09:00:00+01:00"}, "ends_at", "after starts_at"),
        ({"ends_at": "2026-03-02T07:00:00+01:00"}, "ends_at", "after starts_at"),
        ({"color": "red"}, "color", "not a field"),
        ({"id": 7}, "id", "read-only"),
        ({"created_at": "2026-01-01T00:00:00Z"}, "created_at", "read-only"),
    ],
)
def test_invalid_new_event_is_400_naming_the_field(alice, changes, field, fragment):
    assert_field_error(alice.post("/api/events", json={**NEW, **changes}), field, fragment)


def test_boundary_lengths_are_accepted(alice):
    event = create(alice, title="x" * 200, description="y" * 5000)
    assert len(event["title"]) == 200
    assert len(event["description"]) == 5000


def test_description_may_have_line_breaks(alice):
    assert create(alice, description="line one\nline two\r\n\tindented")["description"]


def test_every_fault_is_reported_at_once(alice):
    response = alice.post("/api/events", json={"title": "", "starts_at": "soon"})
    body = assert_json_error(response, 400, "invalid_request")
    assert set(body["fields"]) == {"title", "starts_at", "ends_at"}


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"ends_at": "2026-03-02T07:59:00Z"}, "ends_at"),  # before the stored start
        ({"starts_at": "2026-03-02T09:00:00Z"}, "ends_at"),  # at the stored end
        ({"title": ""}, "title"),
        ({"title": None}, "title"),
        ({"starts_at": None}, "starts_at"),
        ({"owner_sub": "bob"}, "owner_sub"),
    ],
)
def test_patch_is_validated_against_the_stored_event(alice, changes, field):
    event = create(alice)
    response = alice.patch(f"/api/events/{event['id']}", json=changes)
    assert_field_error(response, field)
    assert alice.get(f"/api/events/{event['id']}").get_json() == event


@pytest.mark.parametrize("body", [b"{", b'{"title": "x",}', b"\xff\xfe", b"", b"nul"])
def test_malformed_json_is_400(alice, body):
    response = alice.post("/api/events", data=body, content_type="application/json")
    body = assert_json_error(response, 400, "invalid_request")
    assert "JSON" in body["error_description"]


def test_deeply_nested_json_is_400_not_500(alice):
    response = alice.post("/api/events", data=b"[" * 60000, content_type="application/json")
    assert_json_error(response, 400, "invalid_request")


@pytest.mark.parametrize("body", [b"[]", b'"a string"', b"3", b"null"])
def test_body_that_is_not_an_object_is_400(alice, body):
    response = alice.post("/api/events", data=body, content_type="application/json")
    assert_field_error(response, "body", "object")


def test_body_that_is_not_json_is_415(alice):
    response = alice.post("/api/events", data="title=x", content_type="text/plain")
    assert_json_error(response, 415, "unsupported_media_type")


def test_oversized_body_is_413_json(alice):
    """MAX_CONTENT_LENGTH is 64 KiB: a body beyond it is refused before it is parsed."""
    response = alice.post("/api/events", json={**NEW, "description": "x" * (64 * 1024)})
    assert_json_error(response, 413, "request_too_large")


def test_oversized_patch_is_413_json(alice):
    event = create(alice)
    response = alice.patch(f"/api/events/{event['id']}", json={"description": "x" * 70000})
    assert_json_error(response, 413, "request_too_large")


# -- pagination ------------------------------------------------------------------------------


def insert_events(sub: str, starts: list[datetime]) -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    for n, start in enumerate(starts):
        db.session.add(
            Event(
                owner_sub=sub,
                title=f"event {n}",
                starts_at=start,
                ends_at=start + timedelta(hours=1),
                created_at=now,
                updated_at=now,
            )
        )
    db.session.commit()


def read_all_pages(alice, limit: int) -> list[dict]:
    items, cursor, pages = [], None, 0
    while True:
        query = {"limit": limit, **({"cursor": cursor} if cursor else {})}
        page = alice.get("/api/events", query_string=query).get_json()
        items += page["items"]
        pages += 1
        assert len(page["items"]) <= limit
        cursor = page["next_cursor"]
        if cursor is None:
            return items
        assert pages < 50, "pagination does not end"


def test_pages_cover_every_event_once_ordered_by_start_then_id(app, alice):
    base = datetime(2026, 5, 1, 9, tzinfo=UTC)
    # Several events share a start time, so the id must break ties for the cursor to work.
    starts = [base + timedelta(hours=h) for h in (5, 1, 1, 3, 1, 0, 5, 2)]
    with app.app_context():
        insert_events("alice", starts)
        insert_events("bob", starts)
    items = read_all_pages(alice, limit=3)
    assert len(items) == len(starts)
    keys = [(e["starts_at"], e["id"]) for e in items]
    assert keys == sorted(keys)
    assert len({e["id"] for e in items}) == len(starts)


def test_last_page_has_no_next_cursor(alice):
    create(alice)
    page = alice.get("/api/events").get_json()
    assert len(page["items"]) == 1
    assert page["next_cursor"] is None


def test_exactly_full_page_has_no_next_cursor(app, alice):
    with app.app_context():
        insert_events("alice", [datetime(2026, 1, d, tzinfo=UTC) for d in (1, 2)])
    assert alice.get("/api/events?limit=2").get_json()["next_cursor"] is None


def test_default_page_is_50_and_limit_is_capped_at_100(app, alice):
    base = datetime(2026, 1, 1, tzinfo=UTC)
    with app.app_context():
        insert_events("alice", [base + timedelta(minutes=m) for m in range(105)])
    assert len(alice.get("/api/events").get_json()["items"]) == 50
    assert len(alice.get("/api/events?limit=1000").get_json()["items"]) == 100
    assert len(alice.get("/api/events?limit=7").get_json()["items"]) == 7


def test_events_moved_by_patch_move_in_the_list(alice):
    first = create(alice, starts_at="2026-01-01T09:00:00Z", ends_at="2026-01-01T10:00:00Z")
    second = create(alice, starts_at="2026-01-02T09:00:00Z", ends_at="2026-01-02T10:00:00Z")
    alice.patch(
        f"/api/events/{first['id']}",
        json={"starts_at": "2026-01-03T09:00:00Z", "ends_at": "2026-01-03T10:00:00Z"},
    )
    ids = [e["id"] for e in alice.get("/api/events").get_json()["items"]]
    assert ids == [second["id"], first["id"]]


@pytest.mark.parametrize("limit", ["0", "-1", "abc", "1.5", "", "9" * 30])
def test_bad_limit_is_400(alice, limit):
    assert_field_error(alice.get("/api/events", query_string={"limit": limit}), "limit")


@pytest.mark.parametrize(
    "cursor",
    [
        "",
        "garbage!",
        "bm90IGpzb24",
        "WyJ4IiwxXQ",
        "WyIyMDI2LTAxLTAxVDAwOjAwOjAwWiIsLTFd",
        "x" * 500,
    ],
)
def test_bad_cursor_is_400(alice, cursor):
    assert_field_error(alice.get("/api/events", query_string={"cursor": cursor}), "cursor")
