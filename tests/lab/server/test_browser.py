"""The pages in a real browser: headless Chromium through Selenium, against the
server over HTTP with data uploaded through the API. Screenshots go to
build/lab/screenshots/ (look at them)."""
import os

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait

from lab_server_fixtures import EVIL_MESSAGE, EVIL_MODEL, ROOT, Lab, LiveServer, make_doc


SHOTS = os.path.join(ROOT, "build", "lab", "screenshots")


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """An SQLite lab with a year of runs on two models behind a real HTTP server."""
    lab = Lab(f"sqlite:///{tmp_path_factory.mktemp('browser')}/lab.sqlite")
    from nvme.lab.server.tokens import add_token
    tokens = {"lab-host-07": lab.token, "lab-host-08": add_token(lab.engine, "lab-host-08")}
    docs = []
    fws = ["1.0.0", "1.1.0", "1.2.0", "1.3.0", "2.0.0", "2.0.1"]
    for i in range(24):
        fw = fws[i // 4]
        host = "lab-host-07" if i % 3 else "lab-host-08"
        failing = (2,) if fw >= "1.3.0" else ()
        if fw == "1.1.0" and i % 2:
            failing = (4,)      # flaky on 1.1.0
        doc = make_doc(model="Acme Falcon 2TB", firmware=fw, host=host, n_tests=12, failing=failing,
                       started=f"2026-{1 + i // 3:02d}-{1 + 3 * (i % 3):02d}T09:30:00+00:00",
                       iops=400000 - 3000 * (i % 4) + (20000 if fw >= "2.0.0" else 0) - 8000 * (fw == "1.2.0"))
        for m, (pct, factor) in zip(doc["metrics"][1:3], ((99, 1.0), (99.9, 1.0))):
            m["value"] = m["value"] * factor * (1.2 if fw == "1.2.0" else 1.0)
        docs.append((doc, tokens[host]))
    evil = make_doc(model=EVIL_MODEL, firmware="0.9", n_tests=3, failing=(1,),
                    started="2026-09-01T08:00:00+00:00", serial="EVIL1")
    evil["tests"][1]["message"] = EVIL_MESSAGE
    docs.append((evil, lab.token))
    docs.append((make_doc(model="Blue Ridge P5", firmware="5.1", n_tests=12, finished=False,
                          started="2026-09-02T08:00:00+00:00", serial="BR1"), lab.token))
    for doc, token in docs:
        assert lab.post(doc, token=token).status_code == 201
    server = LiveServer(lab.app)
    server.docs = [d for d, _ in docs]
    yield server
    server.stop()
    lab.engine.dispose()


@pytest.fixture(scope="module")
def browser():
    options = webdriver.ChromeOptions()
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1280,1000", "--hide-scrollbars"):
        options.add_argument(arg)
    options.binary_location = "/usr/bin/chromium"
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    driver.set_page_load_timeout(60)
    os.makedirs(SHOTS, exist_ok=True)
    yield driver
    driver.quit()


def shot(driver, name):
    """A screenshot of the whole page (the window grown to its height)."""
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(1280, min(max(height, 600), 4000))
    driver.save_screenshot(os.path.join(SHOTS, f"{name}.png"))
    driver.set_window_size(1280, 1000)


def rows(driver, table_id):
    return driver.find_elements(By.CSS_SELECTOR, f"#{table_id} tbody tr")


def test_run_list_filters(site, browser):
    browser.get(site.url + "/runs")
    assert len(rows(browser, "runs")) == 26
    Select(browser.find_element(By.ID, "f-firmware")).select_by_visible_text("1.3.0")
    Select(browser.find_element(By.ID, "f-host")).select_by_visible_text("lab-host-07")
    browser.find_element(By.ID, "apply").click()
    WebDriverWait(browser, 30).until(lambda d: "firmware=" in d.current_url)
    assert "firmware=1.3.0" in browser.current_url and "host=lab-host-07" in browser.current_url
    shown = rows(browser, "runs")
    expected = [d for d in site.docs if d["run"]["dut"]["firmware"] == "1.3.0" and
                d["run"]["host"] == "lab-host-07"]
    assert len(shown) == len(expected) == 2
    for r in shown:
        cells = [c.text for c in r.find_elements(By.TAG_NAME, "td")]
        assert cells[1] == "failed" and cells[2] == "lab-host-07" and cells[4] == "1.3.0"
    assert Select(browser.find_element(By.ID, "f-firmware")).first_selected_option.text == "1.3.0"
    shot(browser, "runs_filtered")
    browser.get(site.url + "/runs")
    # the hostile model name is text on the page, not markup
    models = [e.text for e in browser.find_elements(By.CSS_SELECTOR, "#runs td.model")]
    assert EVIL_MODEL in models
    shot(browser, "runs")


def test_run_page(site, browser):
    evil = next(d for d in site.docs if d["run"]["dut"]["model"] == EVIL_MODEL)
    browser.get(f"{site.url}/runs/{evil['run']['uuid']}")
    messages = [e.text for e in browser.find_elements(By.CSS_SELECTOR, "section.failure pre.message")]
    assert messages == [EVIL_MESSAGE]
    assert browser.find_element(By.CSS_SELECTOR, "dd.model").text == EVIL_MODEL
    assert len(rows(browser, "tests")) == 3 and len(rows(browser, "metrics")) == 4
    link = browser.find_element(By.LINK_TEXT, "cmdlog.txt")
    shot(browser, "run_page")
    link.click()
    assert "t=1us cid=3 op=0x02" in browser.find_element(By.TAG_NAME, "body").text
    browser.get(f"{site.url}/runs/{evil['run']['uuid']}")
    browser.find_element(By.LINK_TEXT, "report/report.html").click()
    assert browser.find_element(By.TAG_NAME, "h1").text == "Report"


def test_history_page(site, browser):
    browser.get(site.url + "/tests/history?nodeid=tests/guest/test_x.py::test_2")
    assert browser.find_element(By.CSS_SELECTOR, ".fw-fail").text == "1.3.0"
    cells = [[c.text for c in r.find_elements(By.TAG_NAME, "td")] for r in rows(browser, "firmwares")]
    firmwares = [c[1] for c in cells if c[0] == "Acme Falcon 2TB"]
    assert firmwares == ["1.0.0", "1.1.0", "1.2.0", "1.3.0", "2.0.0", "2.0.1"]
    shot(browser, "history")
    browser.get(site.url + "/tests/history?nodeid=tests/guest/test_x.py::test_4")
    assert [e.text for e in browser.find_elements(By.CSS_SELECTOR, ".fw-flaky")] == ["1.1.0"]
    flaky_rows = browser.find_elements(By.CSS_SELECTOR, "#firmwares tr.flaky")
    assert len(flaky_rows) == 1 and "1.1.0" in flaky_rows[0].text
    shot(browser, "history_flaky")


def test_trend_plot(site, browser):
    browser.get(site.url + "/trends?model=Acme+Falcon+2TB&test=tests/guest/test_x.py::test_0"
                "&workload=ioworker.0")
    for chart in ("iops-chart", "latency-chart"):
        img = browser.find_element(By.ID, chart)
        size = browser.execute_script("return [arguments[0].complete, arguments[0].naturalWidth, "
                                      "arguments[0].naturalHeight]", img)
        assert size == [True, 800, 360], (chart, size)
    table = [r.find_elements(By.TAG_NAME, "td")[0].text for r in rows(browser, "trend-table")]
    assert table == ["1.0.0", "1.1.0", "1.2.0", "1.3.0", "2.0.0", "2.0.1"]
    shot(browser, "trends")
    # another model and workload through the form: the chart follows
    Select(browser.find_element(By.ID, "t-model")).select_by_visible_text("Blue Ridge P5")
    Select(browser.find_element(By.ID, "t-workload")).select_by_visible_text(
        "ioworker.0 · tests/guest/test_x.py::test_0")
    browser.find_element(By.CSS_SELECTOR, "form.filters button").click()
    WebDriverWait(browser, 30).until(lambda d: "Blue+Ridge" in d.current_url)
    table = [r.find_elements(By.TAG_NAME, "td")[0].text for r in rows(browser, "trend-table")]
    assert table == ["5.1"]
    img = browser.find_element(By.ID, "iops-chart")
    assert browser.execute_script("return arguments[0].naturalWidth", img) == 800


def test_fleet_page(site, browser):
    browser.get(site.url + "/fleet")
    hosts = [r.find_element(By.TAG_NAME, "td").text for r in rows(browser, "hosts")]
    assert hosts == ["lab-host-07", "lab-host-08"]
    shot(browser, "fleet")
