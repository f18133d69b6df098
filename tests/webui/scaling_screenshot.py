"""Make the README screenshot: the page during a scaling run.

Runs the real pipeline (one rng, one hasher) with 1 worker, then 2, 5 and
10, each step held for --step seconds, and saves a screenshot of the page
(speed rising then flattening at ~10 hashes/s, rng named as the bottleneck).
Not a test: about four minutes. Usage:

  /usr/bin/python3 tests/webui/scaling_screenshot.py --build build --out docs/webui.png
"""
import argparse
import os
import time

import webui_harness as h


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--build", default="build")
    parser.add_argument("--out", default="docs/webui.png")
    parser.add_argument("--step", type=float, default=45)
    args = parser.parse_args()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    exes = {name: os.path.join(args.build, "pipeline", "dc-" + name)
            for name in ("broker", "rng", "hasher", "dispatcher", "worker")}
    redis = h.Redis().start()
    pipeline = h.Pipeline(exes, redis.address, workers=1).start()
    webui = h.Webui(os.path.join(args.build, "webui", "dc-webui"), redis.address).start()
    options = webdriver.ChromeOptions()
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1280,1180",
                 "--hide-scrollbars"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path="/usr/bin/chromedriver"),
                              options=options)
    try:
        driver.get(webui.url + "/")
        workers = 1
        for target in (2, 5, 10):
            time.sleep(args.step)  # hold each scale step: this is the run, not a sync
            pipeline.check_alive()
            while workers < target:
                pipeline.add_worker()
                workers += 1
            print(f"{workers} workers")
        time.sleep(args.step)
        driver.save_screenshot(args.out)
        print("verdict:", driver.find_element("id", "verdict").text)
        print("saved", args.out)
    finally:
        driver.quit()
        webui.stop()
        pipeline.stop()
        redis.close()


if __name__ == "__main__":
    main()
