"""Real-browser test of the dc-webui page: Debian's chromium, headless,
driven by python3-selenium through chromium-driver.

With the pipeline binaries given, it runs the real pipeline (10 workers
sharing one rng, workshop delays); otherwise a feeder writes the Redis keys
that pipeline writes. Either way the page must show the speed and chart
updating and name rng as the bottleneck. Then: narrow window (no sideways
scroll), Redis outage banner and recovery, server restart and automatic
reconnection. A screenshot is saved for the test artefacts.

Exit 77 (skip) only when chromium or chromium-driver is not installed.
"""
import argparse
import os
import shutil
import sys
import time
import unittest

import webui_harness as h

ARGS = None


def find_browser():
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver") or (
        "/usr/bin/chromedriver" if os.path.exists("/usr/bin/chromedriver") else None)
    return chromium, driver


class Browser(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service

        chromium, driver = find_browser()
        cls.redis = h.Redis().start()
        cls.pipeline = None
        cls.feeder = None
        if ARGS.broker:
            cls.pipeline = h.Pipeline(
                dict(broker=ARGS.broker, rng=ARGS.rng, hasher=ARGS.hasher,
                     dispatcher=ARGS.dispatcher, worker=ARGS.worker),
                cls.redis.address).start()
        else:
            cls.feeder = h.Feeder(cls.redis, rate=10).start()
        cls.webui = h.Webui(ARGS.webui, cls.redis.address, ["--threads", "200"]).start()
        options = webdriver.ChromeOptions()
        options.binary_location = chromium
        for flag in ("--headless=new", "--no-sandbox", "--disable-gpu",
                     "--disable-dev-shm-usage", "--window-size=1280,1100",
                     "--no-first-run", "--no-default-browser-check"):
            options.add_argument(flag)
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        cls.driver = webdriver.Chrome(service=Service(executable_path=driver), options=options)
        cls.driver.set_page_load_timeout(20)

    @classmethod
    def tearDownClass(cls):
        for closer in (lambda: cls.driver.quit(), lambda: cls.webui.stop(),
                       lambda: cls.pipeline and cls.pipeline.stop(),
                       lambda: cls.feeder and cls.feeder.stop(), lambda: cls.redis.close()):
            try:
                closer()
            except Exception as error:  # noqa: BLE001 - clean up everything regardless
                print(f"cleanup: {error!r}", file=sys.stderr)

    def js(self, script):
        return self.driver.execute_script(script)

    def text(self, element_id):
        return self.js(f"return document.getElementById('{element_id}').textContent")

    def last_id(self):
        return int(self.js("return document.body.dataset.lastId || '0'") or 0)

    def test_1_page_names_rng_and_updates(self):
        self.driver.get(self.webui.url + "/")
        self.assertEqual(self.driver.title, "DockerCoin Miner")
        # 10 workers on one rng: the rng queue builds within seconds
        stage = h.wait_until(
            lambda: self.js("return document.getElementById('verdict-box').dataset.stage")
            == "rng" or (self.pipeline and self.pipeline.check_alive()), 60,
            "the page to name rng as the bottleneck")
        self.assertTrue(stage)
        verdict = self.text("verdict")
        self.assertIn("rng is the bottleneck", verdict)
        self.assertIn("Scale rng next", verdict)
        row_class = self.js("return document.querySelector('tr[data-stage=rng]').className")
        self.assertEqual(row_class, "limit")
        # speed and chart update on their own, once a second
        first_id = self.last_id()
        first_points = int(self.js("return document.getElementById('chart').dataset.points"))
        h.wait_until(lambda: self.last_id() >= first_id + 3, 10, "three more events")
        points = int(self.js("return document.getElementById('chart').dataset.points"))
        self.assertGreater(points, first_points, "chart gained points")
        drawn = self.js("const c = Chart.getChart('chart'); "
                        "return c ? c.data.datasets[0].data.length : -1")
        self.assertEqual(drawn, points)
        speed = h.wait_until(lambda: float(self.text("speed").replace(",", "") or 0) > 3, 30,
                             "a non-zero speed")
        self.assertTrue(speed)
        speed = float(self.text("speed").replace(",", ""))
        # workshop ceiling: one rng serves 10 requests/s
        self.assertLess(speed, 13, f"speed {speed}")
        self.assertRegex(self.text("speed-hint"), r"averaged over the last \d+ s")
        self.assertIn("10 s", self.text("speed-hint"))
        self.assertGreater(int(self.text("hashes").replace(",", "")), 0)
        self.assertTrue(self.js("return document.getElementById('banner').hidden"))
        self.assertEqual(self.text("conn"), "live")
        self.driver.save_screenshot(ARGS.screenshot)
        # no CSP violations or script errors
        errors = [entry for entry in self.driver.get_log("browser")
                  if entry["level"] == "SEVERE" and "favicon" not in entry["message"]]
        self.assertEqual(errors, [])

    def test_2_narrow_window(self):
        self.driver.set_window_size(390, 900)
        try:
            h.wait_until(lambda: self.js("return window.innerWidth") < 500, 5, "narrow window")
            overflow = self.js("return document.documentElement.scrollWidth - window.innerWidth")
            self.assertLessEqual(overflow, 1, "page scrolls sideways in a narrow window")
            self.assertTrue(self.js(
                "return document.getElementById('chart').getBoundingClientRect().width > 200"))
            root = os.path.splitext(ARGS.screenshot)
            self.driver.save_screenshot(root[0] + "-narrow" + root[1])
        finally:
            self.driver.set_window_size(1280, 1100)

    def test_3_redis_outage_banner_and_recovery(self):
        self.redis.stop()
        try:
            h.wait_until(lambda: not self.js("return document.getElementById('banner').hidden"),
                         10, "the Redis unreachable banner")
            self.assertIn("Redis unreachable", self.text("banner"))
            self.assertIn("Redis unreachable", self.text("verdict"))
        finally:
            self.redis.start()
        h.wait_until(lambda: self.js("return document.getElementById('banner').hidden"), 10,
                     "the banner to go away")

    def test_4_reconnects_after_server_restart(self):
        port = self.webui.port
        before = self.last_id()
        code, elapsed = self.webui.stop()
        self.assertEqual(code, 0)
        self.assertLess(elapsed, h.exit_bound(ARGS.webui))
        h.wait_until(lambda: self.text("conn") != "live", 10, "the page to notice")
        self.webui.args[2] = f"127.0.0.1:{port}"
        self.webui.output.clear()
        type(self).webui = self.webui.start()
        # a new server counts ids from 1 again: any fresh event will do
        h.wait_until(lambda: self.text("conn") == "live" and self.last_id() != before, 15,
                     "the page to reconnect by itself")


def main():
    global ARGS
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--webui", required=True)
    parser.add_argument("--screenshot", required=True)
    for name in ("broker", "rng", "hasher", "dispatcher", "worker"):
        parser.add_argument("--" + name)
    ARGS, rest = parser.parse_known_args()
    chromium, driver = find_browser()
    if not chromium or not driver:
        print("SKIP: chromium or chromium-driver not installed "
              "(apt-get install chromium chromium-driver)")
        return h.SKIP
    try:
        import selenium  # noqa: F401
    except ImportError:
        print("FAIL: chromium is installed but python3-selenium is not "
              "(apt-get install python3-selenium)")
        return 1
    print("mode:", "real pipeline (10 workers, 1 rng)" if ARGS.broker else
          "feeder (pipeline binaries not given)")
    program = unittest.main(argv=[sys.argv[0], *rest], exit=False, verbosity=2)
    return 0 if program.result.wasSuccessful() else 1


if __name__ == "__main__":
    sys.exit(main())
