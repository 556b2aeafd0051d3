"""The synthesis studio in a real headless browser (Debian's chromium driven by Playwright),
against a real embedded server with a tiny conditional model on 127.0.0.1."""
import os
import shutil

import numpy as np
import pytest
import soundfile as sf

from serving.config import model_config
from serving.server import EmbeddedServer, ServerOptions
from tests.conftest import tiny_config

CHROMIUM = shutil.which("chromium")
# Class names are folder names, untrusted: the studio must show this one as text, never run it.
NAMES = ["kick", "<img src=x onerror=alert(1)>", "snare"]
# Headless chromium has no sound card: a fake audio output keeps the Web Audio clock running.
BROWSER_ARGS = ["--no-sandbox", "--autoplay-policy=no-user-gesture-required", "--disable-background-networking",
                "--disable-component-update", "--no-first-run"]

pytestmark = [pytest.mark.e2e,
              pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed (make install installs it)")]


@pytest.fixture(scope="module")
def studio_url(tmp_path_factory):
    from models.export import export_generator
    from models.judge import Judge
    from models.wavegan import Generator
    from tests.test_quality import tone_data
    base = str(tmp_path_factory.mktemp("studio") / "drums")
    audio, labels = tone_data(4, seed=0)  # a judge goes with the model: search shows the distance's parts
    judge = Judge.train(audio, labels, audio, labels, 16000, ["low", "mid", "high"], epochs=1)
    cfg = tiny_config(num_classes=3, label_names=NAMES)
    export_generator(Generator(cfg), cfg, os.path.join(base, "1"), judge=judge)
    server = EmbeddedServer(model_config("drums", base), ServerOptions(port=0, rest_port=0)).start()
    yield f"http://127.0.0.1:{server.rest_port}/"
    server.stop()


def _canvas_is_drawn(page, selector):
    """True when the canvas holds a picture: many distinct pixel values, not a blank fill."""
    return page.eval_on_selector(selector, """c => {
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data, seen = new Set();
        for (let i = 0; i < d.length; i += 4) seen.add(d[i] * 65536 + d[i + 1] * 256 + d[i + 2]);
        return seen.size > 20; }""")


def test_studio_generates_plays_interpolates_and_sequences(studio_url, tmp_path_factory):
    from playwright.sync_api import sync_playwright
    artifacts = os.environ.get("WAVEGAN_TEST_ARTIFACTS") or str(tmp_path_factory.mktemp("artifacts"))
    os.makedirs(artifacts, exist_ok=True)
    errors = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=BROWSER_ARGS)
        page = browser.new_page(viewport={"width": 1200, "height": 1000})
        page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.on("dialog", lambda dialog: (errors.append(f"dialog: {dialog.message}"), dialog.dismiss()))
        bodies = []
        page.on("request", lambda request: bodies.append(request.post_data or ""))
        page.goto(studio_url)

        # On load: the model's facts, then four clips of seed 0 with real, playable audio.
        page.wait_for_function("document.querySelectorAll('#clips .card').length === 4", timeout=60000)
        assert "3 classes" in page.inner_text("#model-facts") and "16000 Hz" in page.inner_text("#model-facts")
        assert not page.is_hidden("#class-field")
        page.wait_for_function("[...document.querySelectorAll('#clips audio')].every(a => a.readyState >= 1)")
        durations = page.eval_on_selector_all("#clips audio", "els => els.map(a => a.duration)")
        assert all(abs(d - 16384 / 16000) < 0.01 for d in durations), durations
        assert _canvas_is_drawn(page, "#clips .card canvas.spectrogram")
        assert _canvas_is_drawn(page, "#clips .card canvas.waveform")
        download = page.get_attribute("#clips .card a", "download")
        assert download == "wavegan_seed0_0.wav"

        # The classes by name, shown as text.
        assert page.eval_on_selector_all("#class option", "els => els.map(e => e.textContent)") == NAMES
        # A class and a seed: the clips say so.
        page.select_option("#class", "2")
        page.fill("#seed", "7")
        page.fill("#count", "2")
        page.click("#generate")
        page.wait_for_function("document.querySelectorAll('#clips .card').length === 2")
        assert page.inner_text("#clips .card h3").startswith("seed 7 · #0 · snare")

        # Interpolation: both ends load, then the slider makes a new clip in between.
        page.click("#load-ends")
        page.wait_for_selector("#interp .card audio")
        first = page.get_attribute("#interp .card audio", "src")
        page.eval_on_selector("#mix", "s => { s.value = '0.5'; s.dispatchEvent(new Event('input')); "
                                      "s.dispatchEvent(new Event('change')); }")
        page.wait_for_function("document.querySelector('#interp .card h3').textContent.includes('0.500')")
        assert page.get_attribute("#interp .card audio", "src") != first
        assert page.inner_text("#mix-value") == "0.500"
        assert any('"serving_wav"' in body for body in bodies)  # the slider's clips came as WAV files

        # Find sounds like this: a WAV file in, matches best first, then vary one and interpolate to another.
        target = os.path.join(artifacts, "target.wav")
        sf.write(target, np.sin(np.arange(20000) * 0.05) * np.exp(-np.arange(20000) / 3000), 16000)
        page.set_input_files("#target-file", target)
        page.wait_for_function("document.querySelectorAll('#matches .card').length === 8", timeout=60000)
        titles = page.eval_on_selector_all("#matches .card h3", "els => els.map(e => e.textContent)")
        distances = [float(t.split("distance ")[1].split(" ")[0]) for t in titles]
        assert distances == sorted(distances) and titles[0].endswith("· snare")  # class 2 is still picked
        assert all(" (sound " in t and ", judge " in t for t in titles)
        assert "first 16384 samples" in page.inner_text("#search-note")
        page.click("#matches .card button.vary")
        page.wait_for_function("document.querySelectorAll('#variations .card').length === 4", timeout=60000)
        page.click("#matches .card:nth-child(2) button.interpolate-to")
        page.wait_for_function("document.querySelector('#mix-value').textContent === '1.000'", timeout=60000)
        assert not page.is_disabled("#mix")

        # The sequencer: a kit of one row per class, played for more than a bar on the audio clock.
        page.click("#load-kit")
        page.wait_for_selector("#play:not([disabled])")
        assert page.eval_on_selector_all("#grid .row-name", "els => els.map(e => e.textContent)") == \
            NAMES
        assert page.query_selector("img") is None  # the name's markup was never parsed
        assert page.eval_on_selector_all("#grid button.step", "els => els.length") == 3 * 16
        page.fill("#tempo", "240")
        page.click("#play")
        page.wait_for_function("Number(document.querySelector('#grid').dataset.stepsPlayed || 0) > 16",
                               timeout=20000)
        assert page.inner_text("#seq-position").startswith("bar 2")
        page.click("#play")
        assert page.inner_text("#seq-position") == "stopped"
        assert "error" not in (page.get_attribute("#status", "class") or "")
        page.screenshot(path=os.path.join(artifacts, "studio.png"), full_page=True)
        browser.close()
    assert errors == []
    print(f"screenshot: {os.path.join(artifacts, 'studio.png')}")


class _PrefixProxy:
    """A reverse proxy on 127.0.0.1 that serves the studio's server under /wavegan/, as nginx would."""

    def __init__(self, upstream: str, prefix: str = "/wavegan"):
        import http.server
        import threading
        import urllib.error
        import urllib.request

        class Handler(http.server.BaseHTTPRequestHandler):
            def _forward(self):
                if not self.path.startswith(prefix + "/"):
                    self.send_error(404)
                    return
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                request = urllib.request.Request(upstream + self.path[len(prefix):], data=body, method=self.command,
                                                 headers={k: v for k, v in self.headers.items()
                                                          if k.lower() in ("content-type", "authorization")})
                try:
                    with urllib.request.urlopen(request, timeout=60) as response:
                        status, headers, data = response.status, response.headers, response.read()
                except urllib.error.HTTPError as error:
                    status, headers, data = error.code, error.headers, error.read()
                self.send_response(status)
                self.send_header("Content-Type", headers.get("Content-Type", "application/octet-stream"))
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = _forward

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}{prefix}/"

    def close(self):
        self.server.shutdown()


def test_studio_works_behind_a_reverse_proxy_at_a_path_prefix(studio_url):
    from playwright.sync_api import sync_playwright
    proxy = _PrefixProxy(studio_url.rstrip("/"))
    errors = []
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=BROWSER_ARGS)
            page = browser.new_page()
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.goto(proxy.url)
            page.wait_for_function("document.querySelectorAll('#clips .card').length === 4", timeout=60000)
            assert "3 classes" in page.inner_text("#model-facts")
            browser.close()
    finally:
        proxy.close()
    assert errors == []
