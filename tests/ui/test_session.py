"""The dashboard's browser session with auth on: login verifies the token, the cookie is
HttpOnly/SameSite (and Secure over HTTPS), what a role may not do is not offered, and every
state-changing form refuses cross-site requests (a page on another origin of the same host,
which SameSite alone does not stop)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect
from starlette.applications import Starlette
from starlette.responses import HTMLResponse
from starlette.routing import Route

import modelyard as my
from modelyard.api.server import BackgroundServer

from .conftest import open_alert, seeded_dashboard


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    def tokens(yard: my.Yard) -> dict[str, Any]:
        return {"tokens": {role: yard.backend.auth.create(f"ui-{role}", role)
                           for role in ("reader", "writer", "admin")}}

    with seeded_dashboard(tmp_path_factory.mktemp("session"), tokens, auth=True) as site:
        yield site


@pytest.fixture
def attacker() -> Iterator[Callable[[str], str]]:
    """``attacker(html)``: the URL of a page with ``html`` served from another origin."""
    pages: dict[str, str] = {}

    async def serve(request: Any) -> HTMLResponse:
        return HTMLResponse(pages["page"])

    srv = BackgroundServer(Starlette(routes=[Route("/", serve)])).start()

    def host(html: str) -> str:
        pages["page"] = html
        return srv.url + "/"

    yield host
    srv.stop()


def _login(page: Any, token: str) -> Any:
    page.goto("/ui/login")
    page.fill("#token", token)
    with page.expect_navigation():
        page.click("button[type=submit]")
    return page


def test_a_bad_token_gets_the_login_page_again_with_401(site: dict[str, Any],
                                                         new_page: Callable[..., Any]) -> None:
    page = new_page(site["url"])
    page.goto("/ui/login")
    page.fill("#token", "my_not-a-real-token")
    with page.expect_response(lambda r: r.url.endswith("/ui/login")
                              and r.request.method == "POST") as info:
        page.click("button[type=submit]")
    assert info.value.status == 401
    assert "unknown or revoked" in page.inner_text("#login-error")
    assert [c["name"] for c in page.context.cookies()] == ["modelyard_csrf"]
    assert page.goto("/ui/runs").url.endswith("/ui/login")  # still signed out


def test_a_good_token_signs_in_with_a_safe_cookie(site: dict[str, Any],
                                                  new_page: Callable[..., Any]) -> None:
    page = _login(new_page(site["url"]), site["tokens"]["reader"])
    assert page.url.endswith("/ui/")
    cookie = {c["name"]: c for c in page.context.cookies()}["modelyard_token"]
    assert cookie["value"] == site["tokens"]["reader"]
    assert cookie["httpOnly"] and cookie["sameSite"] == "Lax" and not cookie["secure"]
    assert cookie["path"] == "/ui"  # never sent to the REST API
    assert page.evaluate("document.cookie") == ""  # no script can read the session
    assert "ui-reader (viewer)" in page.inner_text("header")  # reader is now called viewer
    page.click("header button")  # sign out
    page.wait_for_url("**/ui/login")
    assert "modelyard_token" not in {c["name"] for c in page.context.cookies()}


def test_the_cookie_is_secure_behind_an_https_proxy(site: dict[str, Any]) -> None:
    with httpx.Client(base_url=site["url"]) as client:
        form = client.get("/ui/login")
        csrf = form.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
        resp = client.post("/ui/login", data={"token": site["tokens"]["reader"],
                                              "csrf_token": csrf},
                           headers={"X-Forwarded-Proto": "https", "Origin": site["url"]})
    assert resp.status_code == 303
    cookies = [v for k, v in resp.headers.multi_items() if k == "set-cookie"]
    assert any(c.startswith("modelyard_token=") and "Secure" in c and "HttpOnly" in c
               and "SameSite=lax" in c for c in cookies), cookies
    assert "script-src 'self'" in form.headers["content-security-policy"]


def test_a_writer_resolves_an_alert_a_reader_is_not_offered_it(
        site: dict[str, Any], new_page: Callable[..., Any]) -> None:
    alert_id = open_alert(site["yard"], "resolvable")
    reader = _login(new_page(site["url"]), site["tokens"]["reader"])
    reader.goto("/ui/monitoring")
    assert reader.locator(f"#alert-{alert_id}").count() == 1
    assert reader.locator(f"#alert-{alert_id} button").count() == 0
    writer = _login(new_page(site["url"]), site["tokens"]["writer"])
    writer.goto("/ui/monitoring")
    writer.click(f"#alert-{alert_id} button")
    expect(writer.locator(f"#alert-{alert_id}")).to_contain_text("resolved")
    assert site["yard"].monitoring.alerts(state="open", endpoint="resolvable") == []


def test_cross_site_forms_are_refused(site: dict[str, Any], new_page: Callable[..., Any],
                                      attacker: Callable[[str], str]) -> None:
    alert_id = open_alert(site["yard"], "targeted")
    victim = _login(new_page(site["url"]), site["tokens"]["writer"])
    # another origin on the same host: same-site, so the browser sends the victim's cookies
    forged = attacker(
        f'<form method="post" action="{site["url"]}/ui/alerts/{alert_id}/resolve">'
        '<input name="csrf_token" value="guess"></form>'
        "<script>document.forms[0].submit()</script>")
    with victim.expect_response(lambda r: "/resolve" in r.url) as info:
        victim.goto(forged)
    assert info.value.status == 403
    assert "another site" in victim.inner_text("body")
    assert [a.id for a in site["yard"].monitoring.alerts(state="open", endpoint="targeted")] \
        == [alert_id]
    # login CSRF: signing the victim in as someone else is refused the same way
    forged = attacker(
        f'<form method="post" action="{site["url"]}/ui/login">'
        f'<input name="token" value="{site["tokens"]["reader"]}"></form>'
        "<script>document.forms[0].submit()</script>")
    with victim.expect_response(lambda r: r.url.endswith("/ui/login")) as info:
        victim.goto(forged)
    assert info.value.status == 403
    cookie = {c["name"]: c["value"] for c in victim.context.cookies()}["modelyard_token"]
    assert cookie == site["tokens"]["writer"]


def test_a_same_origin_post_without_the_token_is_refused(site: dict[str, Any]) -> None:
    alert_id = open_alert(site["yard"], "tokenless")
    with httpx.Client(base_url=site["url"]) as client:
        client.cookies.set("modelyard_token", site["tokens"]["writer"])
        client.get("/ui/monitoring")  # gets a csrf cookie, but the attacker lacks the page
        resp = client.post(f"/ui/alerts/{alert_id}/resolve", headers={"HX-Request": "true"})
    assert resp.status_code == 403
    assert "csrf token" in resp.text
    assert len(site["yard"].monitoring.alerts(state="open", endpoint="tokenless")) == 1


def test_a_page_on_another_port_cannot_use_the_session_on_the_api(
        site: dict[str, Any], new_page: Callable[..., Any],
        attacker: Callable[[str], str]) -> None:
    """Same host, another port: same-site, so SameSite alone would let the session cookie go
    with a script's request to the REST API; the cookie's path keeps it to the dashboard."""
    alert_id = open_alert(site["yard"], "api-target")
    victim = _login(new_page(site["url"]), site["tokens"]["writer"])
    victim.goto(attacker("<p>hello</p>"))
    victim.evaluate(f"""() => fetch("{site['url']}/api/v1/monitoring/alerts/{alert_id}/resolve",
        {{method: "POST", mode: "no-cors", credentials: "include"}}).then(() => 1, () => 1)""")
    assert [a.id for a in site["yard"].monitoring.alerts(state="open", endpoint="api-target")] \
        == [alert_id]


def test_an_admin_disables_a_policy_others_are_not_offered_it(
        site: dict[str, Any], new_page: Callable[..., Any]) -> None:
    from modelyard.automation.entities import PolicySpec

    automation = site["yard"].backend.automation
    automation.save_policy("watch-loans", PolicySpec(model="loans", action="monitor",
                                                     endpoint="loans"))
    reader = _login(new_page(site["url"]), site["tokens"]["reader"])
    reader.goto("/ui/automation/policies/watch-loans")
    expect(reader.locator("h1")).to_contain_text("enabled")
    assert reader.locator("#toggle-policy").count() == 0  # not offered
    assert reader.get_by_role("button", name="Disable").count() == 0
    # and refused if a reader posts it anyway (with a valid csrf token of its own page)
    csrf = reader.locator('meta[name="csrf-token"]').get_attribute("content")
    refused = reader.evaluate("""([url, token]) => fetch(url, {method: "POST",
        headers: {"Content-Type": "application/x-www-form-urlencoded"},
        body: "csrf_token=" + token}).then(r => r.status)""",
        ["/ui/automation/policies/watch-loans/disable", csrf])
    assert refused == 403
    assert automation.get_policy("watch-loans").enabled is True
    writer = _login(new_page(site["url"]), site["tokens"]["writer"])  # policies are an admin's
    writer.goto("/ui/automation/policies/watch-loans")
    assert writer.locator("#toggle-policy").count() == 0
    admin = _login(new_page(site["url"]), site["tokens"]["admin"])
    admin.goto("/ui/automation/policies/watch-loans")
    admin.get_by_role("button", name="Disable").click()
    expect(admin.locator("h1")).to_contain_text("disabled")
    assert automation.get_policy("watch-loans").enabled is False
    [record] = site["yard"].backend.audit.records(target="policy:watch-loans",
                                                  action="policy.disable")
    assert record.actor == "ui-admin"  # who did it is the signed-in user
