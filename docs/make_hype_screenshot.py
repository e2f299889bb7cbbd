"""Screenshot of the HYPE rating page for the README (run from the repo root)."""
import sys, tempfile
from pathlib import Path
import numpy as np
from PIL import Image, ImageFilter
from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from gan_eval.idx import read_idx
from gan_eval.hype.server import make_server, serve_in_thread, server_url

out = Path(sys.argv[1])
work = Path(tempfile.mkdtemp())
digits = read_idx("../shared/data/mnist/t10k-images-idx3-ubyte.gz")
rng = np.random.default_rng(0)
for src in ("real", "fake"):
    (work / src).mkdir()
for k in range(60):
    Image.fromarray(digits[k]).save(work / "real" / f"{k:03d}.png")
    # a stand-in for generator output: another digit, softened and speckled
    d = Image.fromarray(digits[1000 + k]).filter(ImageFilter.GaussianBlur(0.7))
    a = np.clip(np.asarray(d, float) + rng.normal(0, 18, (28, 28)), 0, 255).astype(np.uint8)
    Image.fromarray(a).save(work / "fake" / f"{k:03d}.png")
srv = make_server(work / "session", work / "real", work / "fake", n=100, seed=0, port=0)
serve_in_thread(srv)
o = Options()
o.binary_location = "/usr/bin/chromium"
for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
          "--disable-component-update", "--disable-sync", "--no-first-run", "--window-size=720,700",
          "--hide-scrollbars", f"--user-data-dir={work / 'profile'}"):
    o.add_argument(a)
d = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=o)
try:
    d.set_window_size(720, 820)
    print(d.execute_script("return [innerWidth, innerHeight]"))
    d.get(server_url(srv))
    d.find_element(By.ID, "name").send_keys("alice")
    d.find_element(By.ID, "start-btn").click()
    for k in range(11):
        WebDriverWait(d, 10).until(lambda d: d.find_element(By.ID, "count").text == f"{k + 1} / 100"
                                   and d.find_element(By.ID, "btn-real").is_enabled())
        ActionChains(d).send_keys("rf"[k % 2]).perform()
    WebDriverWait(d, 10).until(lambda d: d.find_element(By.ID, "count").text == "12 / 100"
                               and d.find_element(By.ID, "btn-real").is_enabled())
    d.save_screenshot(str(out))
finally:
    d.quit()
    srv.shutdown()
print(out, out.stat().st_size, "bytes")
