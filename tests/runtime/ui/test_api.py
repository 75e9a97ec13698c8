"""The page's HTTP API on a real server (loopback, free port): every download is runtime-infer's file."""

from __future__ import annotations

import io
import json
import zipfile

import numpy as np
import pytest
from PIL import Image

from revive.runtime.images import decode_gray

from .conftest import Running, get, needs_ui_extra, post, post_files

needs_ui_extra()


def batch_url(server) -> str:
    status, _, body = post(server.url + "api/batches")
    assert status == 201
    return server.url + f"api/batches/{json.loads(body)['id']}"


def wait_for(url: str, count: int, timeout_s: float = 60.0) -> dict:
    import time

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        state = json.loads(get(url)[2])
        if sum(p["status"] in ("done", "failed") for p in state["photos"]) >= count:
            return state
        time.sleep(0.05)
    raise AssertionError(f"photos not finished within {timeout_s} s: {state}")


def test_api_infer_returns_the_file_runtime_infer_writes(ui_server, ui_photos, cli_outputs):
    for key in ("good", "second"):
        photo = ui_photos[key]
        status, headers, body = post_files(ui_server.url + "api/infer", [(photo.name, photo.read_bytes())])
        assert status == 200, body
        assert headers["Content-Type"] == "image/png"
        assert body == (cli_outputs / f"{photo.stem}.png").read_bytes()
        status, _, restored = post_files(ui_server.url + "api/infer?view=restored", [(photo.name, photo.read_bytes())])
        assert status == 200 and restored == (cli_outputs / f"{photo.stem}.restored.png").read_bytes()


def test_api_infer_refuses_a_broken_photo_with_its_reason(ui_server, ui_photos):
    status, headers, body = post_files(ui_server.url + "api/infer", [("broken.jpg", ui_photos["broken"].read_bytes())])
    assert status == 422
    assert headers["Content-Type"] == "application/json"
    reason = json.loads(body)["error"]
    assert reason.startswith("broken.jpg: ") and "\n" not in reason
    assert "decode" in reason or "not an image" in reason


@pytest.mark.parametrize("case", ["no field", "wrong field", "two files", "unknown view"])
def test_api_infer_bad_requests_are_4xx_json(ui_server, ui_photos, case):
    data = ui_photos["good"].read_bytes()
    url = ui_server.url + "api/infer"
    if case == "no field":
        status, _, body = post(url)
    elif case == "wrong field":
        status, _, body = post_files(url, [("a.png", data)], field="file")
    elif case == "two files":
        status, _, body = post_files(url, [("a.png", data), ("b.png", data)])
    else:
        status, _, body = post_files(url + "?view=sketch", [("a.png", data)])
    assert status == 400
    assert json.loads(body)["error"]


def test_api_infer_keeps_nothing(ui_server, ui_photos):
    api = ui_server.desk.root / "api"
    post_files(ui_server.url + "api/infer", [("x.png", ui_photos["good"].read_bytes())])
    post_files(ui_server.url + "api/infer", [("x.jpg", ui_photos["broken"].read_bytes())])
    import time

    deadline = time.monotonic() + 10
    while any(api.iterdir()) and time.monotonic() < deadline:  # the response's background task removes it
        time.sleep(0.05)
    assert not any(api.iterdir())


def test_batch_runs_photos_and_a_zip_and_reports_each_bad_one(ui_server, ui_photos, cli_outputs):
    url = batch_url(ui_server)
    good, second, broken = (ui_photos[k].read_bytes() for k in ("good", "second", "broken"))
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("box/second.jpg", second)
        z.writestr("box/notes.txt", b"not a photo: left out")
        z.writestr("../escape.png", good)  # climbs out: left out
        z.writestr("box/torn.png", broken)
    status, _, body = post_files(url + "/photos", [("scratched.png", good), ("family.zip", archive.getvalue())])
    assert status == 201, body
    added = json.loads(body)["photos"]
    assert [p["name"] for p in added] == ["scratched.png", "box/second.jpg", "box/torn.png"]
    status, _, body = post_files(url + "/photos", [("broken.jpg", broken)])
    assert status == 201
    state = wait_for(url, 4)
    assert state["counts"] == {"queued": 0, "running": 0, "done": 2, "failed": 2}
    by_name = {p["name"]: p for p in state["photos"]}
    assert by_name["box/torn.png"]["reason"] and by_name["broken.jpg"]["reason"]
    assert by_name["scratched.png"]["views"] == ["result", "restored", "mask"]
    index = by_name["scratched.png"]["index"]
    status, headers, body = get(url + f"/photos/{index}/download/result")
    assert status == 200 and body == (cli_outputs / "scratched.png").read_bytes()
    assert 'filename="scratched.png"' in headers["Content-Disposition"]
    status, _, body = get(url + f"/photos/{by_name['box/second.jpg']['index']}/download/restored")
    assert status == 200 and body == (cli_outputs / "second.restored.png").read_bytes()
    status, _, body = get(url + "/zip")
    assert status == 200
    with zipfile.ZipFile(io.BytesIO(body)) as z:
        assert sorted(z.namelist()) == ["box/second.png", "box/second.restored.png", "scratched.png",
                                        "scratched.restored.png"]
        assert z.read("box/second.png") == (cli_outputs / "second.png").read_bytes()


def test_mask_is_where_restoration_changed_the_photo(ui_server, ui_photos, cli_outputs):
    url = batch_url(ui_server)
    post_files(url + "/photos", [("scratched.png", ui_photos["good"].read_bytes())])
    wait_for(url, 1)
    status, headers, body = get(url + "/photos/0/download/mask")
    assert status == 200 and 'filename="scratched.mask.png"' in headers["Content-Disposition"]
    mask = np.asarray(Image.open(io.BytesIO(body)))
    before = np.asarray(decode_gray(ui_photos["good"], None).native)
    restored = np.asarray(decode_gray(cli_outputs / "scratched.restored.png", None).native)
    assert mask.shape == before.shape and set(np.unique(mask)) <= {0, 255}
    np.testing.assert_array_equal(mask == 255, before != restored)
    assert 0 < (mask == 255).mean() < 0.2  # the scratches, not the photo


@pytest.mark.parametrize("view", ["before", "result", "restored", "mask"])
def test_previews_are_browser_sized_pictures_of_the_same_shape(ui_server, ui_photos, view):
    url = batch_url(ui_server)
    post_files(url + "/photos", [("second.jpg", ui_photos["second"].read_bytes())])
    wait_for(url, 1)
    status, headers, body = get(url + f"/photos/0/preview/{view}")
    assert status == 200 and headers["Content-Type"] in ("image/jpeg", "image/png")
    with Image.open(io.BytesIO(body)) as im:
        assert im.size == (180, 240)


def test_unknown_batch_photo_and_view_are_404_json(ui_server):
    status, _, body = get(ui_server.url + "api/batches/nope")
    assert status == 404 and "reload" in json.loads(body)["error"]
    url = batch_url(ui_server)
    assert get(url + "/photos/3/preview/result")[0] == 404
    assert get(url + "/zip")[0] == 409


def test_every_response_forbids_other_origins(ui_server):
    status, headers, body = get(ui_server.url)
    assert status == 200 and b"/static/app.js" in body
    csp = headers["Content-Security-Policy"]
    assert "default-src 'none'" in csp and "script-src 'self'" in csp and "connect-src 'self'" in csp
    for asset in ("static/app.js", "static/style.css", "static/icon.svg"):
        status, headers, body = get(ui_server.url + asset)
        body = body.replace(b'xmlns="http://www.w3.org/2000/svg"', b"")  # a name, never fetched
        assert status == 200 and b"http://" not in body and b"https://" not in body, asset
        assert headers["Content-Security-Policy"] == csp


def test_upload_limit_is_413_and_the_next_photo_goes_on(ui_models, ui_photos, tmp_path):
    small = Running(ui_models, tmp_path / "work", max_upload_bytes=ui_photos["good"].stat().st_size - 1)
    try:
        status, _, body = post_files(small.url + "api/infer", [("big.png", ui_photos["good"].read_bytes())])
        assert status == 413 and "--max-upload-mb" in json.loads(body)["error"]
        url = batch_url(small)
        archive = io.BytesIO()
        with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as z:  # small packed, too large unpacked
            z.writestr("a.png", b"\0" * (small.desk.max_upload_bytes + 1))
        status, _, body = post_files(url + "/photos", [("bomb.zip", archive.getvalue())])
        assert status == 413 and "unpack" in json.loads(body)["error"]
        assert not any(small.desk.batch(url.rsplit("/", 1)[1]).folder.rglob("*.png"))  # nothing of it kept
        status, _, body = post_files(url + "/photos", [("big.png", ui_photos["good"].read_bytes()),
                                                       ("second.jpg", ui_photos["second"].read_bytes())])
        assert status == 201  # one file refused, the other taken
        reply = json.loads(body)
        assert [p["name"] for p in reply["photos"]] == ["second.jpg"]
        assert len(reply["refused"]) == 1 and reply["refused"][0].startswith("big.png: larger than the upload limit")
        assert wait_for(url, 1)["counts"]["done"] == 1
    finally:
        small.close()


def test_closing_fails_what_is_still_queued(ui_models, ui_photos, tmp_path):
    from revive.runtime.backends import open_backend
    from revive.runtime.infer import InferOptions
    from revive.runtime.ui.desk import Desk

    backends = [open_backend(m) for m in ui_models]
    desk = Desk(backends, InferOptions(workers=1), tmp_path)
    try:
        batch = desk.new_batch()
        photos = [p for _ in range(6) for p in desk.add(batch, "second.jpg", io.BytesIO(ui_photos["second"].read_bytes()))]
    finally:
        desk.close()
        for backend in backends:
            backend.close()
    assert all(p.finished.is_set() for p in photos)
    assert {p.status for p in photos} <= {"done", "failed"}
    assert any(p.status == "failed" for p in photos)  # six photos cannot all run before close() comes
    assert all(p.reason == "not run: the page was stopped" for p in photos if p.status == "failed")


def test_the_pixel_limit_refuses_a_photo_with_the_clis_reason(ui_models, ui_photos, tmp_path):
    strict = Running(ui_models, tmp_path / "work", max_pixels=100_000)  # the good photo is 480 x 360
    try:
        status, _, body = post_files(strict.url + "api/infer", [("big.png", ui_photos["good"].read_bytes())])
        assert status == 422
        assert json.loads(body)["error"] == "big.png: 480x360 = 172800 pixels is over --max-pixels 100000 " \
                                           "(possible decompression bomb)"
        status, _, _ = post_files(strict.url + "api/infer", [("small.jpg", ui_photos["second"].read_bytes())])
        assert status == 200  # 180 x 240 is within the limit
    finally:
        strict.close()
