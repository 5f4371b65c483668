"""The web demo: its page files, its endpoint (decoding with attention), and the page in a real Chromium."""

import base64
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import types
import urllib.error
import urllib.request

import numpy as np
import pytest

from kseq2seq import serving, web_demo

SOURCE = "12 de septiembre de 1992"


@pytest.fixture(scope="module")
def task_folder(tiny_translator, tmp_path_factory):
    folder = str(tmp_path_factory.mktemp("demo") / "dates")
    tiny_translator.save_to_preset(folder)
    return folder


@pytest.fixture(scope="module")
def demo(task_folder):
    return web_demo.WebDemo(task_folder, "dates")


def _serve(demo):
    served = types.SimpleNamespace(version="1")  # the REST API's model; these tests use the demo routes only
    httpd = serving.make_server(served, demo.name if demo else "dates", port=0, demo=demo)
    serving.serve_in_thread(httpd)
    return httpd, f"http://127.0.0.1:{httpd.server_address[1]}"


@pytest.fixture(scope="module")
def url(demo):
    httpd, address = _serve(demo)
    yield address
    httpd.shutdown()
    httpd.server_close()


def _call(url, path, body=None):
    data = None if body is None else json.dumps(body).encode()
    try:
        with urllib.request.urlopen(urllib.request.Request(url + path, data=data), timeout=120) as response:
            return response.status, response.headers["Content-Type"], response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers["Content-Type"], error.read()


def test_page_files_are_served_and_nothing_outside_them(url):
    status, content_type, body = _call(url, "/")
    assert (status, content_type) == (200, "text/html; charset=utf-8")
    assert b'<script src="/static/app.js"></script>' in body
    status, content_type, _ = _call(url, "/static/app.js")
    assert status == 200 and "javascript" in content_type
    for path in ("/static/missing.css", "/static/..%2Fserving.py", "/static/.hidden", "/serving.py"):
        assert _call(url, path)[0] == 404, path


def test_generate_returns_the_tasks_outputs_and_attention(url, demo):
    options = {"sampler": "beam", "num_beams": 3, "nbest": 2}
    status, _, body = _call(url, "/kseq2seq/v1/models/dates:generate", {"inputs": [SOURCE], "options": options})
    assert status == 200
    answer = json.loads(body)
    expected = demo.task.generate([SOURCE], return_attention=True, **options)[0]
    result = answer["results"][0]
    assert result["texts"] == expected.texts and len(result["texts"]) == 2
    np.testing.assert_allclose(result["scores"], expected.scores, atol=1e-4)
    assert result["output_tokens"] == list(expected.output_tokens)
    assert result["source_tokens"] == list(expected.source_tokens)
    attention = np.array(result["attention"])
    assert attention.shape == (len(expected.output_tokens), len(expected.source_tokens))
    np.testing.assert_allclose(attention, expected.attention, atol=1e-4)
    np.testing.assert_allclose(attention.sum(axis=1), 1.0, atol=1e-3)  # softmax over the source tokens
    assert answer["latency_ms"] > 0


def test_models_lists_the_served_model_with_its_decoding_defaults(url, tiny_translator):
    status, _, body = _call(url, "/kseq2seq/v1/models")
    assert status == 200
    (model,) = json.loads(body)["models"]
    assert {key: model[key] for key in ("name", "task", "version", "demo", "input")} == {
        "name": "dates", "task": "translation", "version": "1", "demo": True, "input": "text"}
    assert model["generation_config"] == json.loads(json.dumps(tiny_translator.generation_config.to_dict()))


@pytest.mark.parametrize("body, message", [
    ({"inputs": "x"}, "Expected a JSON object {\"inputs\": [text, ...]"),
    ({"inputs": []}, "Expected 'inputs' to be 1 to 16 strings"),
    ({"inputs": ["x", 3]}, "Expected inputs[1] to be a string, {\"b64\": base64 bytes} or a record"),
    ({"inputs": [{"name": 3}]}, "Received: {'name': 3}"),
    ({"inputs": [{"name": "Zizzi"}]}, "Expected inputs[0] to be a string. Received: dict"),  # the task says so
    ({"inputs": [{"b64": "%%%"}]}, "Expected inputs[0]['b64'] to be base64"),
    ({"inputs": ["x"], "options": {"beams": 3}}, "Received: ['beams']"),
    ({"inputs": ["x"], "options": {"sampler": "beam", "num_beams": 2, "nbest": 3}}, "nbest"),
])
def test_bad_requests_get_400_naming_the_problem(url, body, message):
    status, _, answer = _call(url, "/kseq2seq/v1/models/dates:generate", body)
    assert status == 400
    assert message in json.loads(answer)["error"]


def test_file_inputs_come_as_base64_and_their_attention_keeps_every_column(tiny_transcriber, tmp_path):
    """A speech model: a WAV as {"b64": ...}, attention over every listener step (no source tokens)."""
    from kseq2seq.datasets.spoken_numbers import load_spoken_numbers

    folder = str(tmp_path / "speech")
    tiny_transcriber.save_to_preset(folder)
    demo = web_demo.WebDemo(folder, "numbers")
    assert demo.describe("1")["input"] == "audio"
    wav = load_spoken_numbers(num_train=0, num_validation=0, num_test=1, seed=9)[2][0][0]
    answer = demo.generate({"inputs": [{"b64": base64.b64encode(wav).decode()}]})
    expected = tiny_transcriber.generate([wav], return_attention=True)[0]
    result = answer["results"][0]
    assert result["texts"] == expected.texts and result["source_tokens"] == []
    np.testing.assert_allclose(result["attention"], expected.attention, atol=1e-4)
    samples = tiny_transcriber.preprocessor.encode_source([wav])[0]["waveform"][0].numpy()
    np.testing.assert_allclose(result["spectrogram"], tiny_transcriber.backbone.log_mel(samples).T, atol=0.006)
    with pytest.raises(web_demo.DemoError, match=r"inputs\[0\] to be a WAV file"):
        demo.generate({"inputs": [{"b64": base64.b64encode(b"not audio").decode()}]})


def test_a_blank_input_gives_an_empty_output(url):
    status, _, body = _call(url, "/kseq2seq/v1/models/dates:generate", {"inputs": ["  "]})
    assert status == 200
    result = json.loads(body)["results"][0]
    assert result["texts"] == [""]


def test_without_a_task_folder_the_demo_is_off_with_a_clear_message():
    httpd, url = _serve(None)
    try:
        status, _, body = _call(url, "/kseq2seq/v1/models")
        assert json.loads(body)["models"] == [{"name": "dates", "version": "1", "demo": False}]
        status, _, body = _call(url, "/kseq2seq/v1/models/dates:generate", {"inputs": ["x"]})
        assert status == 404 and "No trained task (model.keras)" in json.loads(body)["error"]
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_task_folder_is_the_model_folder_or_a_version_folders_parent(task_folder, tmp_path):
    assert web_demo.find_task_folder(task_folder) == os.path.abspath(task_folder)
    assert web_demo.find_task_folder(os.path.join(task_folder, "1")) == os.path.abspath(task_folder)
    assert web_demo.find_task_folder(str(tmp_path)) is None


def test_a_data_to_text_model_lists_its_fields_and_takes_a_record(tiny_data_to_text, tmp_path):
    folder = str(tmp_path / "records")
    tiny_data_to_text.save_to_preset(folder)
    demo = web_demo.WebDemo(folder, "restaurants")
    fields = demo.describe()["fields"]
    assert list(fields)[:2] == ["name", "eatType"] and fields["name"] == [] and "pub" in fields["eatType"]
    record = {"name": "Ölmez & Sons", "eatType": "pub", "area": "riverside"}
    answer = demo.generate({"inputs": [record], "options": {"sampler": "beam", "num_beams": 3}})
    expected = tiny_data_to_text.generate([record], return_attention=True, sampler="beam", num_beams=3)[0]
    result = answer["results"][0]
    assert result["texts"] == expected.texts and "Ölmez & Sons" in result["texts"][0]
    assert np.array(result["attention"]).shape == (len(expected.output_tokens), len(result["source_tokens"]))
    with pytest.raises(web_demo.DemoError, match=r"Expected a record attribute without brackets"):
        demo.generate({"inputs": [{"name[": "x"}]})


def _chromium():
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        pytest.skip("no Chromium on this machine: install Debian's chromium (apt-get install chromium; .ci/run does)")
    return path


@contextlib.contextmanager
def _page(url, model):
    """Headless Chromium on the demo page at `url`, once its model list names `model`."""
    from playwright.sync_api import sync_playwright

    chromium = _chromium()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, headless=True)
        try:
            page = browser.new_page()
            page.goto(url)
            page.wait_for_selector(f"#model option[value='{model}']", state="attached")
            yield page
        finally:
            browser.close()


@contextlib.contextmanager
def _served(demo):
    """The demo's page and endpoint, served from a thread of this process."""
    httpd, url = _serve(demo)
    try:
        yield url + "/"
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.mark.large
def test_browser_demo_page_decodes_and_draws_the_heatmap(task_folder, tiny_translator, tmp_path):
    """`kseq2seq serve` in its own process, driven by headless Chromium: beam n-best, heatmap, an error shown."""
    _chromium()
    tiny_translator.export(os.path.join(task_folder, "1"), overwrite=True)
    process = subprocess.Popen([sys.executable, "-m", "kseq2seq.cli", "serve", "--model", task_folder, "--port", "0"],
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        process.stdout.readline()
        line = process.stdout.readline()
        assert line.startswith("Web demo: http://127.0.0.1:"), line
        expected = tiny_translator.generate([SOURCE], return_details=True, sampler="beam", num_beams=3, nbest=2)[0]
        with _page(line.split()[2], "dates") as page:
            page.fill("#input", SOURCE)
            page.select_option("#sampler", "beam")
            page.fill("#num-beams", "3")
            page.fill("#nbest", "2")
            page.click("#run")
            page.wait_for_selector("#results:not([hidden])")
            assert page.locator("#outputs .output").all_inner_texts() == expected.texts
            cells = page.locator("#attention td.cell").count()
            assert cells == len(expected.output_tokens) * len(expected.source_tokens)
            assert page.locator("#latency").inner_text().endswith(" ms")
            page.screenshot(path=str(tmp_path / "demo.png"), full_page=True)
            page.fill("#nbest", "5")  # more than the beams: the server's message is shown, not a blank page
            page.click("#run")
            page.wait_for_selector("#error:not([hidden])")
            assert "nbest" in page.locator("#error").inner_text()
            assert page.locator("#results").is_hidden()
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)


@pytest.mark.large
def test_browser_demo_page_uploads_a_wav_file(tiny_transcriber, tmp_path):
    """The page of a speech model: a file picker instead of the text box; the WAV's transcript and attention."""
    from kseq2seq.datasets.spoken_numbers import load_spoken_numbers

    _chromium()
    folder = str(tmp_path / "speech")
    tiny_transcriber.save_to_preset(folder)
    wav = tmp_path / "numbers.wav"
    wav.write_bytes(load_spoken_numbers(num_train=0, num_validation=0, num_test=1, seed=9)[2][0][0])
    expected = tiny_transcriber.generate([str(wav)], return_attention=True)[0]
    with _served(web_demo.WebDemo(folder, "dates")) as url, _page(url, "dates") as page:
        assert page.locator("#input").is_hidden() and page.locator("#file").is_visible()
        page.click("#run")  # no file chosen yet: a message, not a request
        page.wait_for_selector("#error:not([hidden])")
        assert "Choose a file first" in page.locator("#error").inner_text()
        page.set_input_files("#file", str(wav))
        page.click("#run")
        page.wait_for_selector("#results:not([hidden])")
        assert page.locator("#outputs .output").all_inner_texts() == expected.texts
        assert page.locator("#attention td.cell").count() == expected.attention.size
        assert page.locator("#drawing canvas").count() == 2  # the spectrogram, and the attention under it
        page.screenshot(path=str(tmp_path / "speech-demo.png"), full_page=True)


@pytest.mark.large
def test_browser_demo_page_fills_the_record_form(tiny_data_to_text, tmp_path):
    """The page of a data-to-text model: a field per attribute instead of the text box; the record's text."""
    _chromium()
    folder = str(tmp_path / "records")
    tiny_data_to_text.save_to_preset(folder)
    record = {"name": "Quorvash Lint", "eatType": "coffee shop", "food": "Italian", "near": "St. Ives"}
    # The page sends the filled fields in the form's order, the training records' order.
    in_form_order = {a: record[a] for a in tiny_data_to_text.preprocessor.fields if a in record}
    expected = tiny_data_to_text.generate([in_form_order], return_attention=True)[0]
    with _served(web_demo.WebDemo(folder, "restaurants")) as url, _page(url, "restaurants") as page:
        assert page.locator("#input").is_hidden() and page.locator("#record").is_visible()
        fields = page.locator("#record input")
        assert fields.count() == len(tiny_data_to_text.preprocessor.fields)
        page.click("#run")  # an empty form: a message, not a request
        page.wait_for_selector("#error:not([hidden])")
        assert "Fill in at least one field" in page.locator("#error").inner_text()
        for attribute, value in record.items():
            page.fill(f"#record input[data-attribute='{attribute}']", value)
        page.click("#run")
        page.wait_for_selector("#results:not([hidden]), #error:not([hidden])", timeout=120_000)
        assert page.locator("#error").is_hidden(), page.locator("#error").inner_text()
        assert page.locator("#outputs .output").all_inner_texts() == expected.texts
        assert "Quorvash Lint" in expected.texts[0]
        source = [token for token in expected.source_tokens if token != "[PAD]"]
        assert page.locator("#attention td.cell").count() == len(expected.output_tokens) * len(source)
        page.screenshot(path=str(tmp_path / "records-demo.png"), full_page=True)
