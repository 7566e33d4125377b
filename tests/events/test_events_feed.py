"""The pull feed: cursor paging, acknowledgement, minimisation field by field, and who gets nothing."""

from __future__ import annotations

from events_support import DWP_FIELDS, EVENT_KEYS, EventsApi, add_council_agreement, death, transition


def test_cursor_pages_through_events_in_sequence_order(api: EventsApi) -> None:
    api.subscribe()
    ids = [api.recorded(n)["id"] for n in range(7)]
    seen, after, pages = [], 0, []
    while True:
        page = api.feed(after=after, limit=3).json()
        pages.append([e["sequence"] for e in page["events"]])
        seen += [e["id"] for e in page["events"]]
        if not page["more"]:
            break
        after = page["next"]
    assert pages == [[1, 2, 3], [4, 5, 6], [7]]
    assert seen == ids
    last = api.feed(after=7).json()
    assert last == {"events": [], "next": 7, "more": False}


def test_passing_a_cursor_acknowledges_it(api: EventsApi) -> None:
    subscription = api.subscribe()
    for n in range(5):
        api.recorded(n)
    assert [e["sequence"] for e in api.feed().json()["events"]] == [1, 2, 3, 4, 5]  # nothing acknowledged yet
    api.feed(after=3, limit=1)
    assert [e["sequence"] for e in api.feed().json()["events"]] == [4, 5]
    api.feed(after=1)  # an older cursor does not move it back
    assert [e["sequence"] for e in api.feed().json()["events"]] == [4, 5]
    view = api.client.get(f"/v1/events/subscriptions/{subscription['id']}", headers=api.auth("dwp")).json()
    assert view["feed_cursor"] == 3


def test_each_body_gets_exactly_its_agreement_fields(api: EventsApi) -> None:
    add_council_agreement(api.hub)
    api.subscribe("dwp")
    api.subscribe("council")
    narrow = api.subscribe("dwp", fields=["date_of_death", "surname"])
    recorded = api.recorded(1)
    sent = death(1)["data"]

    [for_dwp] = api.feed("dwp", after=0).json()["events"]
    assert set(for_dwp) == EVENT_KEYS
    assert for_dwp["id"] == recorded["id"] and for_dwp["kind"] == "death" and for_dwp["recorded_by"] == "gro"
    assert list(for_dwp["data"]) == DWP_FIELDS
    for name in DWP_FIELDS:
        assert for_dwp["data"][name] == sent[name]
    assert "postcode" not in for_dwp["data"]

    [for_council] = api.feed("council", after=0).json()["events"]
    assert set(for_council) == EVENT_KEYS
    assert for_council["data"] == {"surname": sent["surname"], "date_of_death": sent["date_of_death"]}

    [only_narrow] = api.feed("dwp", after=0, subscription=narrow["id"]).json()["events"]
    assert only_narrow["data"] == {"surname": sent["surname"], "date_of_death": sent["date_of_death"]}


def test_a_body_without_a_subscription_or_agreement_gets_nothing(api: EventsApi) -> None:
    api.subscribe("dwp")
    api.recorded(1)
    for who in ("hmrc", "council", "gro"):
        response = api.feed(who, after=0)
        assert response.status_code == 200 and response.json()["events"] == []
    refused = api.client.post("/v1/events/subscriptions", json={"kinds": ["death"]}, headers=api.auth("hmrc"))
    api.problem(refused, 403, "hmrc")
    api.problem(api.client.post("/v1/events/subscriptions", json={"kinds": ["death"], "agreement":
                "warm-home-discount-2026"}, headers=api.auth("dwp")), 403)
    api.problem(api.client.post("/v1/events/subscriptions", json={"kinds": ["birth"]}, headers=api.auth("dwp")),
                403, "gro-births")


def test_events_before_a_subscription_are_not_in_its_feed(api: EventsApi) -> None:
    api.recorded(1)
    api.subscribe("dwp")
    api.recorded(2)
    assert [e["sequence"] for e in api.feed(after=0).json()["events"]] == [2]
    assert [e["sequence"] for e in api.feed().json()["events"]] == [2]


def test_another_bodys_subscription_is_not_found(api: EventsApi) -> None:
    add_council_agreement(api.hub)
    theirs = api.subscribe("council")
    api.problem(api.feed("dwp", subscription=theirs["id"]), 404)
    api.problem(api.client.get(f"/v1/events/subscriptions/{theirs['id']}", headers=api.auth("dwp")), 404)
    api.problem(api.client.delete(f"/v1/events/subscriptions/{theirs['id']}", headers=api.auth("dwp")), 404)
    api.problem(api.client.post(f"/v1/events/subscriptions/{theirs['id']}/replay", headers=api.auth("dwp")), 404)
    listed = api.client.get("/v1/events/subscriptions", headers=api.auth("dwp")).json()["subscriptions"]
    assert listed == []
    everyone = api.client.get("/v1/events/subscriptions", headers=api.auth("admin")).json()["subscriptions"]
    assert [s["id"] for s in everyone] == [theirs["id"]]


def test_a_suspended_agreement_stops_the_feed(api: EventsApi) -> None:
    api.subscribe()
    api.recorded(1)
    transition(api.hub, "gro-deaths-to-dwp", "suspended")
    assert api.feed(after=0).json()["events"] == []
    transition(api.hub, "gro-deaths-to-dwp", "active")
    assert len(api.feed(after=0).json()["events"]) == 1


def test_bad_feed_parameters_are_problems(sqlite_api: EventsApi) -> None:
    api = sqlite_api
    api.subscribe()
    api.problem(api.feed(after=-1), 422, "after")
    api.problem(api.feed(after="tomorrow"), 422, "after")
    api.problem(api.feed(limit=0), 422, "limit")
    api.problem(api.feed(limit=1001), 422, "limit")
    api.problem(api.feed(subscription="x" * 65), 422, "subscription")
    api.problem(api.feed(subscription="sub-nope"), 404)
    api.problem(api.client.get("/v1/events"), 401)
    api.problem(api.client.post("/v1/events/subscriptions", json={"kinds": []}, headers=api.auth("dwp")), 422)
    api.problem(api.client.post("/v1/events/subscriptions", json={"kinds": ["death"], "fields": ["postcode"]},
                                headers=api.auth("dwp")), 422, "postcode")
    api.problem(api.client.patch("/v1/events/subscriptions/sub-nope", json={"state": "paused"},
                                 headers=api.auth("dwp")), 404)
    api.problem(api.client.patch("/v1/events/subscriptions/sub-nope", json={"state": "ended"},
                                 headers=api.auth("dwp")), 422)
    api.problem(api.client.post("/v1/events/subscriptions/sub-nope/replay", params={"from": -3},
                                headers=api.auth("dwp")), 422)
    api.problem(api.client.post("/v1/events/subscriptions/sub-nope/dead-letters/requeue", json={"events": "all"},
                                headers=api.auth("dwp")), 422)


def test_an_auditor_reads_but_does_not_change_subscriptions(sqlite_api: EventsApi) -> None:
    """GETs (feed, subscriptions, dead letters) need body.read, which an auditor holds; writes need body.act."""
    api = sqlite_api
    subscription = api.subscribe()
    api.recorded(1)
    reader = {"Authorization": f"Bearer {api.officer_token(api.add_officer('dwp', None, 'auditor'))}"}
    assert api.client.get("/v1/events", params={"after": 0}, headers=reader).status_code == 200
    listed = api.client.get("/v1/events/subscriptions", headers=reader)
    assert listed.status_code == 200 and [s["id"] for s in listed.json()["subscriptions"]] == [subscription["id"]]
    path = f"/v1/events/subscriptions/{subscription['id']}"
    assert api.client.get(path, headers=reader).json()["id"] == subscription["id"]
    assert api.client.get(f"{path}/dead-letters", headers=reader).json()["dead_letters"] == []
    api.problem(api.client.get(path), 401)
    api.problem(api.client.patch(path, json={"state": "paused"}, headers=reader), 403, "body.act")
    api.problem(api.client.delete(path, headers=reader), 403, "body.act")
    api.problem(api.client.post("/v1/events/subscriptions", json={"kinds": ["death"]}, headers=reader), 403,
                "body.act")
    assert api.client.get(path, headers=reader).json()["state"] == "active"
