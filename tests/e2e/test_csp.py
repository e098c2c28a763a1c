"""The Content-Security-Policy in Debian's Chromium: the site's pages and the Django admin break
none of it (the `new_context` fixture fails a test whose pages report a violation), and a page
that did break it would be caught."""

import re

from axes.models import AccessAttempt, AccessFailureLog
from django.contrib.auth import get_user_model
from playwright.sync_api import expect

from messaging.seed import SEED_CONVERSATION_UUID

from .conftest import CspWatch

ADMIN_PASSWORD = "e2e-admin-password-1"


def policy_of(response) -> str:
    return response.headers.get("content-security-policy", "")


def test_an_inline_style_or_script_in_a_page_is_refused_and_reported(browser, stack):
    """The watch the other tests rely on: the login page as served (its real header), with an
    inline style and an inline script slipped in; both are refused and both are reported."""
    context = browser.new_context()
    watch = CspWatch(context)
    page = context.new_page()

    def tampered(route):
        response = route.fetch()
        body = (
            response.text()
            .replace("<body", '<body style="color: red"', 1)
            .replace("</body>", "<script>window.inlineRan = true</script></body>", 1)
        )
        route.fulfill(response=response, body=body)

    page.route("**/accounts/login/", tampered)
    try:
        response = page.goto(f"{stack}/accounts/login/")
        ran = page.evaluate("window.inlineRan === true")
        color = page.evaluate("getComputedStyle(document.body).color")
    finally:
        context.close()

    assert "script-src 'self'" in policy_of(response)

    assert ran is False
    assert color != "rgb(255, 0, 0)"
    directives = {event["directive"] for event in watch.events}
    assert {"style-src-attr", "script-src-elem"} <= directives, watch.events
    assert any("inline style" in text for text in watch.console), watch.console
    assert any("inline script" in text for text in watch.console), watch.console


def test_the_sites_pages_keep_to_the_policy(stack, new_context, login):
    visitor = new_context().new_page()
    for path in ("/accounts/login/", "/accounts/signup/", "/no-such-page/"):
        response = visitor.goto(f"{stack}{path}")
        assert "script-src 'self'" in policy_of(response), path
    expect(visitor.get_by_role("heading", name="Not found")).to_be_visible()

    page = login("andrewbrown")
    for path in (
        "/messages/",
        f"/messages/{SEED_CONVERSATION_UUID}/",
        "/messages/new/londo/",
        "/messages/no-such-conversation/",
    ):
        response = page.goto(f"{stack}{path}")
        policy = policy_of(response)
        assert "script-src 'self'" in policy, path
        assert "unsafe-inline" not in policy, path
    page.goto(f"{stack}/messages/{SEED_CONVERSATION_UUID}/")
    page.get_by_label(re.compile("^Reply to")).fill("Under the policy")
    page.get_by_role("button", name="Send", exact=True).click()
    expect(page.locator("ol.messages > li .msg-text").last).to_have_text("Under the policy")


def admin_login(stack, new_context):
    get_user_model().objects.create_superuser(
        "sinclair", "sinclair@example.com", ADMIN_PASSWORD, display_name="Jeffrey Sinclair"
    )
    page = new_context().new_page()
    page.set_default_timeout(10_000)
    page.goto(f"{stack}/admin/")
    page.get_by_label("Handle").fill("sinclair")
    page.get_by_label("Password").fill(ADMIN_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{stack}/admin/")
    return page


def test_the_admin_keeps_to_the_policy(stack, new_context):
    page = admin_login(stack, new_context)
    users = get_user_model().objects
    bayko = users.get(handle="bayko")
    response = page.goto(f"{stack}/admin/users/user/")
    assert "script-src 'self'" in policy_of(response)
    assert "unsafe-inline" not in policy_of(response)
    expect(page.get_by_role("link", name="bayko", exact=True)).to_be_visible()

    # The change page: filter_horizontal widgets, the password widget, the collapsible theme
    # and sidebar controls are all built by the admin's scripts.
    page.goto(f"{stack}/admin/users/user/{bayko.pk}/change/")
    expect(page.get_by_label("Display name")).to_have_value(bayko.display_name)
    expect(page.locator("#id_groups_filter")).to_be_visible()  # SelectFilter2.js ran
    page.locator("#id_user_permissions_from option").first.dblclick()
    expect(page.locator("#id_user_permissions_to option")).to_have_count(1)
    page.get_by_label("Display name").fill("Andrew Bayko (admin)")
    page.get_by_role("button", name="Save and continue editing").click()
    expect(page.locator(".messagelist")).to_contain_text("was changed successfully")
    assert users.get(pk=bayko.pk).display_name == "Andrew Bayko (admin)"

    page.goto(f"{stack}/admin/users/user/add/")
    page.get_by_label("Handle").fill("kosh")
    page.get_by_label("Display name").fill("Kosh Naranek")
    page.get_by_label("Email").fill("kosh@example.com")
    page.locator("#id_password1").fill("vorlon-ambassador")
    page.locator("#id_password2").fill("vorlon-ambassador")
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.locator(".messagelist")).to_contain_text("was added successfully")
    kosh = users.get(handle="kosh")
    assert kosh.check_password("vorlon-ambassador")

    page.goto(f"{stack}/admin/users/user/{kosh.pk}/password/")
    expect(page.locator("#id_password1")).to_be_visible()

    # The changelist with a filter, a search and the actions bar (actions.js).
    page.goto(f"{stack}/admin/users/user/?cognito=unlinked&q=kosh")
    expect(page.locator("#result_list tbody tr")).to_have_count(1)
    page.locator("#action-toggle").check()
    expect(page.locator(".action-counter")).to_contain_text("1 of 1 selected")
    page.locator("select[name=action]").select_option("delete_selected")
    page.get_by_role("button", name="Go").click()
    expect(page.get_by_role("heading", name="Delete multiple objects")).to_be_visible()

    page.goto(f"{stack}/admin/users/user/{kosh.pk}/delete/")
    page.get_by_role("button", name=re.compile("Yes")).click()
    expect(page.locator(".messagelist")).to_contain_text("was deleted successfully")
    assert not users.filter(handle="kosh").exists()

    # django-axes' pages, with a failure on record (filters, date hierarchy, search).
    for model in (AccessAttempt, AccessFailureLog):
        fields = {
            "username": "londo",
            "ip_address": "127.0.0.1",
            "user_agent": "Chromium",
            "http_accept": "*/*",
            "path_info": "/accounts/login/",
        }
        if model is AccessAttempt:
            fields.update(get_data="", post_data="handle=londo", failures_since_start=5)
        model.objects.create(**fields)
    for name in ("accessattempt", "accessfailurelog"):
        page.goto(f"{stack}/admin/axes/{name}/")
        expect(page.locator("#result_list tbody tr")).to_have_count(1)
        page.goto(f"{stack}/admin/axes/{name}/?q=londo")
        page.locator("#result_list tbody tr th a").first.click()
        expect(page.locator("#content h1")).to_be_visible()

    page.goto(f"{stack}/admin/auth/group/add/")
    expect(page.locator("#id_permissions_filter")).to_be_visible()
    page.goto(f"{stack}/admin/users/user/")
    page.locator("#nav-filter").fill("failures")  # nav_sidebar.js hides the other models
    expect(page.locator('#nav-sidebar a[href="/admin/users/user/"]')).to_be_hidden()
    page.locator("#toggle-nav-sidebar").click()
    page.locator(".theme-toggle").first.click()  # theme.js
    page.goto(f"{stack}/admin/password_change/")
    page.goto(f"{stack}/admin/nothing-here/")
