"""The dashboard offers what a role may do and nothing else, and its approve/refuse forms are
checked like every state-changing form (CSRF token, same origin) and by the same table."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

import httpx

from .conftest import Team, register, report


@contextmanager
def browser(team: Team, user: str) -> Iterator[httpx.Client]:
    """A signed-in browser session: the token cookie on /ui, same-origin posts."""
    with httpx.Client(base_url=team.api, timeout=60, headers={"Origin": team.api,
                                                              "Accept": "text/html"}) as c:
        c.cookies.set("modelyard_token", team.tokens[user], path="/ui")
        yield c


def _csrf(html: str) -> str:
    found = re.search(r'<meta name="csrf-token" content="([^"]+)"', html)
    assert found is not None
    return found.group(1)


def test_approvers_see_approve_and_refuse_others_do_not(team: Team) -> None:
    users, tokens = team.yard.backend.users, team.yard.backend.auth
    users.add("carol", roles=["editor", "approver"])
    users.add("dave", roles=["approver"])
    team.tokens["carol"] = tokens.create("carol")
    team.tokens["dave"] = tokens.create("dave")
    register(team.yard, "fraud", 2)
    report(team.yard, "fraud", 2, "passed")
    team.yard.models.set_alias("fraud", "production", 1)
    team.yard.models.require_approval("fraud", "production")
    with browser(team, "carol") as carol:
        made = carol.post("/api/v1/models/fraud/promotions",
                          json={"alias": "production", "version": 2},
                          headers={"Authorization": f"Bearer {team.tokens['carol']}"})
        assert made.status_code == 201, made.text
        request_id = made.json()["id"]
        own = carol.get("/ui/models/fraud").text
        assert f'id="promotion-{request_id}"' in own
        assert "/approve" not in own and "/refuse" in own  # not her own request
    with browser(team, "viewer") as viewer:
        page = viewer.get("/ui/models/fraud").text
        assert f'id="promotion-{request_id}"' in page and "/approve" not in page \
            and "/refuse" not in page
    with browser(team, "editor") as editor:  # posting anyway: refused by the table
        csrf = _csrf(editor.get("/ui/models/fraud").text)
        denied = editor.post(f"/ui/models/fraud/promotions/{request_id}/approve",
                             data={"csrf_token": csrf})
        assert denied.status_code == 403
    with browser(team, "dave") as dave:
        page = dave.get("/ui/models/fraud").text
        assert f"/ui/models/fraud/promotions/{request_id}/approve" in page
        no_token = dave.post(f"/ui/models/fraud/promotions/{request_id}/approve", data={})
        assert no_token.status_code == 403  # the csrf token is missing
        moved = dave.post(f"/ui/models/fraud/promotions/{request_id}/approve",
                          data={"csrf_token": _csrf(page)})
        assert moved.status_code == 303
    assert team.yard.models.get("fraud@production").version == 2
    [approval] = team.yard.backend.audit.records(target="alias:fraud@production",
                                                 action="promotion.approve")
    assert approval.actor == "dave"
