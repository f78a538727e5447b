#!/usr/bin/python3
"""web_chromium.py — the web page in headless Chromium (Debian's chromium,
chromium-driver and python3-selenium), driven by tests/test_web.c.

    web_chromium.py URL USER PASSWORD SIM_CONTROL_PORT SYSTEM [SCREENSHOT.png]
    web_chromium.py --open URL SIM_CONTROL_PORT

The second form is for a daemon that takes no logins (--http-no-auth): the
form's login is refused, the page finds it needs none and shows the six
switches, and a click reaches the strip.

Against a daemon serving a simulated HS300 named PowerStrip (whose control
port is SIM_CONTROL_PORT) and an aggregated system SYSTEM: log in; six outlet
switches and the system's switch are there with their names; the password
field is empty; a click switches the simulated outlet; an outlet switched at
the simulator flips its switch without a reload; the system's switch works;
no console errors; a phone-sized screenshot; a click the device refuses
shows the service's error; logout; a wrong password shows an error. Prints what fails and exits 1; 0 when all passed.
"""
import shutil
import socket
import sys
import tempfile
import time

from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By

failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print(f"FAIL: {what}", file=sys.stderr)
    return cond


def sim(port, line):
    with socket.create_connection(("127.0.0.1", port), timeout=3) as s:
        s.sendall((line + "\n").encode())
        reply = b""
        while not reply.endswith(b"\n"):
            chunk = s.recv(4096)
            if not chunk:
                break
            reply += chunk
    return reply.decode().strip()


def wait(fn, seconds):
    deadline = time.monotonic() + seconds
    while True:
        try:
            v = fn()
        except Exception:   # an element redrawn meanwhile: try again
            v = None
        if v or time.monotonic() > deadline:
            return v
        time.sleep(0.05)


def switch(driver, label):
    found = driver.find_elements(By.CSS_SELECTOR, f'[role="switch"][aria-label="{label}"]')
    return found[0] if found else None


def checked(driver, label):
    s = switch(driver, label)
    return s.get_attribute("aria-checked") if s else None


def main():
    open_mode = len(sys.argv) == 4 and sys.argv[1] == "--open"
    if len(sys.argv) not in (6, 7) and not open_mode:
        print(__doc__.strip().splitlines()[3].strip(), file=sys.stderr)
        return 2
    if open_mode:
        url, control = sys.argv[2], int(sys.argv[3])
    else:
        url, user, password, control, system = sys.argv[1:6]
        control = int(control)
        shot = sys.argv[6] if len(sys.argv) == 7 else None
    profile = tempfile.mkdtemp(prefix="rfs-chromium-")
    opts = Options()
    opts.binary_location = "/usr/bin/chromium"
    for a in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
              "--disable-component-update", "--disable-sync", "--no-first-run",
              f"--user-data-dir={profile}", "--window-size=412,1000"):
        opts.add_argument(a)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=opts)
    try:
        if open_mode:
            run_open(driver, url, control)
        else:
            run(driver, url, user, password, control, system, shot)
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)
    print(f"{len(failures)} failures", file=sys.stderr)
    return 1 if failures else 0


def run(driver, url, user, password, control, system, shot):
    driver.get(url + "/")
    form = driver.find_element(By.ID, "login")
    form.find_element(By.CSS_SELECTOR, "input[name=username]").send_keys(user)
    form.find_element(By.CSS_SELECTOR, "input[name=password]").send_keys(password)
    form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()

    outlets = wait(lambda: len(driver.find_elements(
        By.CSS_SELECTOR, '[role="switch"][aria-label^="PowerStrip outlet "]')) == 6, 10)
    check(outlets, "six outlet switches for the HS300")
    if not outlets:
        return
    labels = sorted(e.get_attribute("aria-label") for e in driver.find_elements(
        By.CSS_SELECTOR, '[role="switch"][aria-label^="PowerStrip outlet "]'))
    check(labels == [f"PowerStrip outlet {i}" for i in range(1, 7)], f"outlet switch names {labels}")
    check(driver.find_element(By.CSS_SELECTOR, "input[name=password]").get_attribute("value") == "",
          "the password field is empty after login")
    check(wait(lambda: switch(driver, f"{system} power"), 5) is not None, f"a switch named '{system} power'")
    driver.execute_script("window.__noReload = 1;")
    # live: the SSE stream is open
    check(wait(lambda: driver.find_element(By.ID, "live").is_displayed(), 5), "the live marker shows")

    # a click switches the simulated outlet
    check(sim(control, "state 2") == "ok on", "outlet 2 starts on")
    check(checked(driver, "PowerStrip outlet 2") == "true", "outlet 2's switch starts checked")
    switch(driver, "PowerStrip outlet 2").click()
    check(wait(lambda: sim(control, "state 2") == "ok off", 3), "a click switched outlet 2 off at the strip")
    check(wait(lambda: checked(driver, "PowerStrip outlet 2") == "false", 3), "outlet 2's switch unchecked")

    # a change at the strip flips the switch without a reload
    check(sim(control, "set 4 off") == "ok", "sim: set 4 off")
    t0 = time.monotonic()
    flipped = wait(lambda: checked(driver, "PowerStrip outlet 4") == "false", 2)
    check(flipped, "outlet 4 switched at the strip shows within 2 s")
    if flipped:
        print(f"  strip button -> page: {1000 * (time.monotonic() - t0):.0f} ms", file=sys.stderr)
    check(driver.execute_script("return window.__noReload === 1;"), "no reload happened")
    sim(control, "set 4 on")
    check(wait(lambda: checked(driver, "PowerStrip outlet 4") == "true", 2), "and back on")

    # the system's power switch
    before = checked(driver, f"{system} power")
    switch(driver, f"{system} power").click()
    check(wait(lambda: checked(driver, f"{system} power") not in (before, None), 3),
          "the system's switch switched")

    errors = [e for e in driver.get_log("browser") if e.get("level") == "SEVERE"]
    check(not errors, f"no console errors: {errors}")
    if shot:
        sim(control, "set 2 on")
        wait(lambda: checked(driver, "PowerStrip outlet 2") == "true", 2)
        driver.set_window_size(412, 700)
        time.sleep(0.3)
        driver.save_screenshot(shot)

    # a switch the device refuses shows the service's error (after the
    # console check: the failed request is logged there as an error)
    check(sim(control, "fail set_relay_state -3 relay busy") == "ok", "sim: fail set_relay_state")
    switch(driver, "PowerStrip outlet 3").click()
    err = wait(lambda: driver.find_element(By.CSS_SELECTOR, '[data-uri$="/Outlets/3"] .msg').text, 4)
    check(err, "a refused click shows the service's error")
    if err:
        print(f"  refused click shows: {err!r}", file=sys.stderr)
    check(sim(control, "state 3") == "ok on", "the refused outlet stays on")
    check(checked(driver, "PowerStrip outlet 3") == "true", "its switch stays checked")
    sim(control, "fail off")

    # logout, then a wrong password shows an error
    driver.find_element(By.ID, "logout").click()
    check(wait(lambda: driver.find_element(By.ID, "login").is_displayed(), 3), "logout shows the login form")
    check(not driver.find_elements(By.CSS_SELECTOR, '[role="switch"]'), "no switches after logout")
    form = driver.find_element(By.ID, "login")
    form.find_element(By.CSS_SELECTOR, "input[name=username]").clear()
    form.find_element(By.CSS_SELECTOR, "input[name=username]").send_keys(user)
    form.find_element(By.CSS_SELECTOR, "input[name=password]").send_keys("wrong-" + password)
    form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    msg = wait(lambda: driver.find_element(By.ID, "login-error").text, 3)
    check(msg and "fail" in msg.lower(), f"a wrong password shows an error ({msg!r})")
    check(not driver.find_elements(By.CSS_SELECTOR, '[role="switch"]'), "no switches with a wrong password")


def run_open(driver, url, control):
    driver.get(url + "/")
    form = driver.find_element(By.ID, "login")
    form.find_element(By.CSS_SELECTOR, "input[name=username]").send_keys("anyone")
    form.find_element(By.CSS_SELECTOR, "input[name=password]").send_keys("anything")
    form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    check(wait(lambda: len(driver.find_elements(
        By.CSS_SELECTOR, '[role="switch"][aria-label^="PowerStrip outlet "]')) == 6, 10),
        "no-login server: six outlet switches")
    check(wait(lambda: driver.find_element(By.ID, "live").is_displayed(), 5), "no-login server: live")
    s = switch(driver, "PowerStrip outlet 6")
    if check(s is not None, "no-login server: outlet 6's switch"):
        before = sim(control, "state 6")
        s.click()
        check(wait(lambda: sim(control, "state 6") != before, 3), "no-login server: a click reaches the strip")
        s = switch(driver, "PowerStrip outlet 6")
        s.click()
        wait(lambda: sim(control, "state 6") == before, 3)


if __name__ == "__main__":
    sys.exit(main())
