"""Offline, really: every page loads in headless Chromium with every request that would leave the machine routed to
a failure, and none is attempted (icons, fonts and scripts are served by the app itself)."""

from harness import block_off_machine, wait_idle

from pages import PAGES


def test_no_page_makes_a_request_off_the_machine(browser, app_url):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    left = block_off_machine(context)
    page = context.new_page()
    page.set_default_timeout(240_000)
    try:
        page.goto(app_url)
        page.get_by_text("Model card").first.wait_for()
        wait_idle(page)
        visited = ["Home"]
        for _file, title, _icon in PAGES:
            page.locator('[data-testid="stSidebarNav"]').get_by_text(title, exact=True).click()
            wait_idle(page)
            page.locator('[data-testid="stMain"] h1').first.wait_for()
            visited.append(title)
        assert page.locator('[data-testid="stException"]').count() == 0
    finally:
        context.close()
    assert visited == ["Home", *(title for _f, title, _i in PAGES)]
    assert left == [], f"requests that tried to leave the machine: {sorted(set(left))}"
