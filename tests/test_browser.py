"""The site in headless Chromium: ask twice (MISS, then HIT), edit a policy in the admin, read /stats/,
open Swagger UI; every page is served under the Content-Security-Policy and none breaks it; the answer
streamed into the page with JavaScript, and the plain form post without it.

Chromium and its driver come from Debian (`make browser`); the driver path is given, so Selenium
Manager never runs and nothing is downloaded.
"""

import urllib.request
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait

from cache_policies.models import CachePolicy
from qa.pipeline import question_answer

pytestmark = [pytest.mark.browser, pytest.mark.redis]
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
QUESTION = "What does the with statement do?"


def chromium(profile: Path, *, javascript: bool = True):
    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        pytest.skip("needs Debian's chromium and chromium-driver: run `make browser`")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for argument in (
        "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run", "--window-size=1280,1600",
        f"--user-data-dir={profile}",
    ):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    if not javascript:
        options.add_experimental_option("prefs", {"profile.managed_default_content_settings.javascript": 2})
    driver = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)
    driver.implicitly_wait(5)
    ARTIFACTS.mkdir(exist_ok=True)
    return driver


@pytest.fixture
def browser(tmp_path):
    driver = chromium(tmp_path / "chromium-profile")
    yield driver
    driver.quit()


@pytest.fixture
def browser_without_javascript(tmp_path):
    driver = chromium(tmp_path / "chromium-profile", javascript=False)
    yield driver
    driver.quit()


@pytest.fixture
def staff_user(django_user_model):
    return django_user_model.objects.create_superuser("ops", "ops@example.com", "correct horse")


def _screenshot(browser, name: str) -> None:
    """The whole page, not just the window."""
    height = browser.execute_script("return document.documentElement.scrollHeight")
    browser.set_window_size(1280, max(height, 800))
    browser.save_screenshot(str(ARTIFACTS / name))


def _csp_violations(browser) -> list[str]:
    return [entry["message"] for entry in browser.get_log("browser") if "Content Security Policy" in entry["message"]]


def _csp_header(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.headers["Content-Security-Policy"]


def _ask(browser, live_server) -> str:
    browser.get(live_server.url + "/")
    return _submit(browser)


def _submit(browser) -> str:
    browser.find_element(By.NAME, "question").send_keys(QUESTION)
    browser.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
    # Streamed (data-state streaming, then done) or rendered whole by the form post (no data-state).
    answered = (By.CSS_SELECTOR, "#answer:not([data-state=streaming])")
    WebDriverWait(browser, 60).until(expected_conditions.presence_of_element_located(answered))
    return browser.find_element(By.ID, "x-cache").text


def _log_in(browser, live_server, user) -> None:
    browser.get(live_server.url + "/admin/login/")
    browser.find_element(By.ID, "id_username").send_keys(user.username)
    browser.find_element(By.ID, "id_password").send_keys("correct horse")
    browser.find_element(By.CSS_SELECTOR, "input[type=submit]").click()
    WebDriverWait(browser, 10).until(expected_conditions.url_to_be(live_server.url + "/admin/"))


def test_it_shows_a_miss_then_a_hit_and_the_ratio_on_the_stats_page(browser, live_server, kb, staff_user):
    assert _ask(browser, live_server) == "MISS"
    _screenshot(browser, "1-ask-miss.png")
    assert _ask(browser, live_server) == "HIT"
    _screenshot(browser, "2-ask-hit.png")

    _log_in(browser, live_server, staff_user)
    policy = CachePolicy.objects.get(layer="response")
    browser.get(f"{live_server.url}/admin/cache_policies/cachepolicy/{policy.pk}/change/")
    ttl = browser.find_element(By.ID, "id_ttl_seconds")
    ttl.clear()
    ttl.send_keys("7200")
    browser.find_element(By.NAME, "_save").click()
    saved = expected_conditions.presence_of_element_located((By.CSS_SELECTOR, ".messagelist .success"))
    WebDriverWait(browser, 10).until(saved)
    _screenshot(browser, "3-policy-saved.png")
    policy.refresh_from_db()
    assert policy.ttl_seconds == 7200

    browser.get(live_server.url + "/stats/")
    assert browser.find_element(By.ID, "last-minutes-response-ratio").text == "50%"
    chart = browser.find_element(By.ID, "chart-minutes")
    assert chart.tag_name == "svg"
    assert chart.find_elements(By.CSS_SELECTOR, "g.series.response circle")
    _screenshot(browser, "4-stats.png")
    assert _csp_violations(browser) == []


def test_it_sends_a_csp_without_unsafe_inline(live_server):
    for path in ("/", "/api/docs/", "/admin/login/"):
        policy = _csp_header(live_server.url + path)
        assert "script-src 'self'" in policy
        assert "unsafe-inline" not in policy


def test_it_renders_swagger_ui_under_the_csp(browser, live_server):
    browser.get(live_server.url + "/api/docs/")
    operations = expected_conditions.presence_of_all_elements_located((By.CSS_SELECTOR, ".swagger-ui .opblock"))
    assert WebDriverWait(browser, 30).until(operations)
    _screenshot(browser, "5-swagger.png")
    assert _csp_violations(browser) == []


def test_it_streams_the_answer_into_the_page_it_was_asked_on(browser, live_server, kb):
    browser.get(live_server.url + "/")
    browser.execute_script("window.askedHere = true")
    assert _submit(browser) == "MISS"
    answer = browser.find_element(By.ID, "answer")
    assert answer.get_attribute("data-state") == "done", "streamed by the page's script"
    assert browser.execute_script("return window.askedHere") is True, "no page load: the answer came as a stream"
    assert answer.find_element(By.CLASS_NAME, "answer-text").text == question_answer(question=QUESTION).answer
    assert answer.find_elements(By.CSS_SELECTOR, "ol li a[href*='/documents/']")
    _screenshot(browser, "5-ask-streamed.png")


def test_it_answers_by_the_form_post_without_javascript(browser_without_javascript, live_server, kb):
    assert _ask(browser_without_javascript, live_server) == "MISS"
    assert browser_without_javascript.find_element(By.ID, "answer").get_attribute("data-state") is None
    assert _ask(browser_without_javascript, live_server) == "HIT"
    _screenshot(browser_without_javascript, "6-ask-without-javascript.png")
