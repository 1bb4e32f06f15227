"""A check by hand of the extension inside a real VS Code: code-server (npm,
4.100.3: the newest on Node.js 20) with build/vscode/pynvme-monitor.vsix installed, a
test process (tests/soft/monitor_workload.py) whose socket is in the user settings
(pynvme.socket), driven with Selenium (python3-selenium, chromium-driver): it opens
the pynvme side bar, selects the admin queue (its command log opens), clicks the
status-bar IOPS (the chart opens) and takes screenshots. Not in CI: code-server
needs native builds and a ripgrep binary its install fetches from outside the npm
registry (docs/monitor.md says how it was set up).

    python3 code_server_check.py http://127.0.0.1:PORT/?folder=REPO OUTDIR
"""
import sys, time
from selenium import webdriver
from selenium.webdriver.common.by import By

url, out = sys.argv[1], sys.argv[2]
o = webdriver.ChromeOptions()
for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1500,950"):
    o.add_argument(a)
d = webdriver.Chrome(options=o)
d.set_page_load_timeout(180)
def wait_for(css, timeout=120, text=None):
    t0 = time.time()
    while time.time() - t0 < timeout:
        for e in d.find_elements(By.CSS_SELECTOR, css):
            try:
                if text is None or text in (e.text or e.get_attribute("aria-label") or ""):
                    return e
            except Exception:
                pass
        time.sleep(1)
    d.save_screenshot(f"{out}/cs-timeout.png")
    raise TimeoutError(f"{css} {text}")
try:
    d.get(url)
    wait_for(".activitybar", 240)
    time.sleep(10)
    d.save_screenshot(f"{out}/cs-0-start.png")
    wait_for(".activitybar .action-item a", 60, "pynvme").click()
    wait_for(".monaco-list-row", 60, "admin queue")
    time.sleep(3)
    d.save_screenshot(f"{out}/cs-1-tree.png")
    wait_for(".monaco-list-row", 60, "ioworker queue")
    wait_for(".monaco-list-row", 60, "admin queue").click()
    time.sleep(8)
    d.save_screenshot(f"{out}/cs-2-cmdlog.png")
    wait_for(".statusbar-item", 60, "IOPS").click()
    time.sleep(15)
    d.save_screenshot(f"{out}/cs-3-chart.png")
    sb = [e.text for e in d.find_elements(By.CSS_SELECTOR, ".statusbar-item") if "IOPS" in e.text]
    print("status bar:", sb)
    rows = [e.text for e in d.find_elements(By.CSS_SELECTOR, ".monaco-list-row")]
    print("tree rows:", rows)
finally:
    d.quit()
