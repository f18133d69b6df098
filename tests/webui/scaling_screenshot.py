"""Make the README screenshot: the page during the workshop's scaling run.

Runs the real pipeline (workshop delays) with 1 worker, then 10 workers,
then a second rng, each step held for --step seconds, and saves a
screenshot after each step in --shots and the last one (the chart stepping
up ~3.3 -> ~10 -> ~20 hashes/s, rng named) as --out. Prints what the page
said at each step. Not a test: about --step x 3 seconds. Usage:

  /usr/bin/python3 tests/webui/scaling_screenshot.py --build build --out docs/webui.png
"""
import argparse
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "pipeline"))
import dcrig as h  # noqa: E402


def report(driver, name):
    cells = driver.execute_script(
        "return [...document.querySelectorAll('#stages tr')].map(r => "
        "[...r.querySelectorAll('td')].slice(0, 7).map(td => td.textContent).join(' | '))")
    print(f"[{name}] speed {driver.find_element('id', 'speed').text} hashes/s, badge "
          f"'{driver.find_element('id', 'conn').text}'\n  verdict: "
          f"{driver.find_element('id', 'verdict').text}")
    for row in cells:
        print("  " + row)


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--build", default="build")
    parser.add_argument("--out", default="docs/webui.png")
    parser.add_argument("--shots", default=None, help="directory for each step's screenshot")
    parser.add_argument("--step", type=float, default=45)
    args = parser.parse_args()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    shots = args.shots or tempfile.mkdtemp(prefix="dc-webui-shots-")
    os.makedirs(shots, exist_ok=True)
    redis = h.RedisServer().start()
    pipeline = h.Rig(workdir=os.path.join(shots, "rig"), secure="seed",
                     bin=os.path.join(args.build, "pipeline"), redis=redis.address)
    pipeline.start_pipeline(workers=1, delay_ms=None)
    webui = h.Webui(os.path.join(args.build, "webui", "dc-webui"), redis.address).start()
    options = webdriver.ChromeOptions()
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1280,1180",
                 "--hide-scrollbars"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path="/usr/bin/chromedriver"),
                              options=options)
    try:
        driver.get(webui.url + "/")
        steps = (("1-one-worker", None), ("2-ten-workers", lambda: [pipeline.start_worker(None, None)
                                                                     for _ in range(9)]),
                 ("3-two-rng", lambda: pipeline.start_service("rng", None, None)))
        for name, scale in steps:
            if scale:
                scale()
            time.sleep(args.step)  # hold each scale step: this is the run, not a sync
            pipeline.check_alive()
            driver.save_screenshot(os.path.join(shots, f"webui-{name}.png"))
            report(driver, name)
        driver.save_screenshot(args.out)
        print("saved", args.out, "and each step in", shots)
    finally:
        driver.quit()
        webui.stop()
        pipeline.close()
        redis.close()


if __name__ == "__main__":
    sys.exit(main())
