"""Downloads for real, over a loopback HTTP server, from archives the tests build."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
import threading
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from gsos.data.download import KAGGLE_HELP, UnsafeArchive, download, safe_extract
from gsos.data.prepare import prepare_dataset
from gsos.errors import DataError


def image_bytes(seed: int, fmt: str = "PNG", size=(24, 18)) -> bytes:
    rng = np.random.default_rng(seed)
    img = Image.fromarray(rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8))
    buf = io.BytesIO()
    img.save(buf, format=fmt)
    return buf.getvalue()


def zip_bytes(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, data in members.items():
            z.writestr(name, data)
    return buf.getvalue()


class Server:
    """Serves ``files`` on 127.0.0.1; ``fail_first`` and ``truncate`` inject faults."""

    def __init__(self):
        self.files: dict[str, bytes] = {}
        self.fail_first: dict[str, int] = {}
        self.truncate: set[str] = set()
        self.requests: list[str] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - http.server's name
                outer.requests.append(self.path)
                if outer.fail_first.get(self.path, 0) > 0:
                    outer.fail_first[self.path] -= 1
                    self.send_error(503, "try again")
                    return
                body = outer.files.get(self.path)
                if body is None:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body[: len(body) // 2] if self.path in outer.truncate else body)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}{path}"

    def add(self, path: str, body: bytes) -> dict:
        self.files[path] = body
        return {
            "url": self.url(path),
            "sha256": hashlib.sha256(body).hexdigest(),
            "size": len(body),
        }

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    s = Server()
    yield s
    s.close()


def rps_archives(server: Server) -> list[dict]:
    train = {
        f"rps/{c}/{c}{i:02d}.png": image_bytes(10 * k + i)
        for k, c in enumerate(["paper", "rock", "scissors"])
        for i in range(8)
    }
    test = {
        f"rps-test-set/{c}/test-{c}{i}.png": image_bytes(100 + 10 * k + i)
        for k, c in enumerate(["paper", "rock", "scissors"])
        for i in range(3)
    }
    return [
        server.add("/data/rps.zip", zip_bytes(train)),
        server.add("/data/rps-test-set.zip", zip_bytes(test)),
    ]


def cfg(source: dict, **over) -> dict:
    return {
        "source": source,
        "image_size": 16,
        "channels": 3,
        "split": {"validation": 0.25, "test": 0.2, "seed": 0},
        **over,
    }


def test_rock_paper_scissors_downloads_verifies_and_keeps_its_test_split(server, tmp_path):
    source = {"kind": "http", "files": rps_archives(server), "train": "rps", "test": "rps-test-set"}
    record = download(source, tmp_path / "RPS", progressbar=False)
    assert [f["name"] for f in record["files"]] == ["rps.zip", "rps-test-set.zip"]
    assert record["files"][0]["sha256"] == source["files"][0]["sha256"]
    tensors, manifest = prepare_dataset(
        "RPS", cfg(source, paper={"n_images": 2892, "n_classes": 3}), tmp_path
    )
    assert manifest["class_names"] == ["paper", "rock", "scissors"]
    assert manifest["split"]["test"] == "official"
    assert manifest["n_images"] == {"train": 18, "val": 6, "test": 9}
    assert manifest["paper_comparison"]["n_images"] == {
        "paper": 2892,
        "prepared": 33,
        "difference": 33 - 2892,
    }
    assert manifest["paper_comparison"]["differs"] is True
    # a second download reuses the verified files: no new request
    n = len(server.requests)
    download(source, tmp_path / "RPS", progressbar=False)
    assert len(server.requests) == n


def test_dog_cat_skips_and_counts_corrupt_and_zero_byte_jpegs(server, tmp_path):
    members = {
        f"PetImages/{c}/{i}.jpg": image_bytes(i + 50 * k, "JPEG")
        for k, c in enumerate(["Cat", "Dog"])
        for i in range(7)
    }
    members["PetImages/Cat/666.jpg"] = b""
    members["PetImages/Dog/11702.jpg"] = b"\xff\xd8\xff\xe0garbage-not-a-jpeg"
    members["PetImages/Dog/Thumbs.db"] = b"\x00" * 64
    source = {
        "kind": "http",
        "files": [server.add("/kagglecatsanddogs_5340.zip", zip_bytes(members))],
        "train": "PetImages",
    }
    download(source, tmp_path / "Dog_Cat", progressbar=False)
    _, manifest = prepare_dataset("Dog_Cat", cfg(source, paper={"n_images": 16}), tmp_path)
    # 16 JPEGs (two of them unusable), as the real archive's 25,000; Thumbs.db is no image
    assert manifest["paper_comparison"]["n_images"]["difference"] == 0
    assert manifest["class_names"] == ["Cat", "Dog"]
    assert sum(manifest["n_images"].values()) == 14
    assert manifest["skipped"]["by_reason"] == {
        "zero-byte file": 1,
        "unreadable image": 1,
        "not an image": 1,
    }
    assert "Dog/11702.jpg" in {s["file"] for s in manifest["skipped"]["files"]}


def npz_bytes(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.savez_compressed(buf, array)
    return buf.getvalue()


def test_kuzushiji_49_from_npz_arrays(server, tmp_path):
    rng = np.random.default_rng(0)
    files, spec = [], {}
    for split, n in (("train", 98), ("test", 49)):
        labels = np.arange(n) % 49
        imgs = rng.integers(0, 255, (n, 28, 28), dtype=np.uint8)
        files.append(server.add(f"/k49/k49-{split}-imgs.npz", npz_bytes(imgs)))
        files.append(server.add(f"/k49/k49-{split}-labels.npz", npz_bytes(labels)))
        spec[split] = {"images": f"k49-{split}-imgs.npz", "labels": f"k49-{split}-labels.npz"}
    source = {"kind": "http", "files": files, "format": "npz", **spec}
    download(source, tmp_path / "K49", progressbar=False)
    t, m = prepare_dataset(
        "K49", cfg(source, image_size=28, channels=1, split={"validation": 0.5}), tmp_path
    )
    assert m["n_classes"] == 49 and m["n_images"] == {"train": 49, "val": 49, "test": 49}
    assert t["x_test"].shape == (49, 1, 28, 28)


def test_md5_is_accepted(server, tmp_path):
    body = npz_bytes(np.zeros(3))
    server.files["/a.npz"] = body
    files = [{"url": server.url("/a.npz"), "md5": hashlib.md5(body).hexdigest()}]
    record = download(
        {"kind": "http", "files": files, "train": "x"}, tmp_path / "a", progressbar=False
    )
    assert record["files"][0]["bytes"] == len(body)


def test_wrong_checksum_removes_the_file_and_says_what_to_check(server, tmp_path):
    entry = server.add("/data/rps.zip", zip_bytes({"rps/a/1.png": image_bytes(1)}))
    entry["sha256"] = "0" * 64
    with pytest.raises(DataError, match="checksum mismatch") as err:
        download(
            {"kind": "http", "files": [entry], "train": "rps", "retries": 0},
            tmp_path / "x",
            progressbar=False,
        )
    assert "sha256/md5 in the config" in str(err.value)
    assert list((tmp_path / "x" / "downloads").iterdir()) == []


def test_truncated_download_fails_cleanly(server, tmp_path):
    entry = server.add("/big.zip", zip_bytes({f"d/c{i}/x.png": image_bytes(i) for i in range(4)}))
    server.truncate.add("/big.zip")
    with pytest.raises(DataError, match="download failed"):
        download(
            {"kind": "http", "files": [entry], "train": "d", "retries": 1},
            tmp_path / "x",
            progressbar=False,
        )
    assert list((tmp_path / "x" / "downloads").iterdir()) == []


def test_transient_errors_are_retried(server, tmp_path):
    source = {"kind": "http", "files": rps_archives(server), "train": "rps", "retries": 2}
    server.fail_first["/data/rps.zip"] = 2
    download(source, tmp_path / "RPS", progressbar=False)
    assert server.requests.count("/data/rps.zip") == 3


@pytest.mark.parametrize("member", ["../evil.txt", "/tmp/evil.txt", "a/../../evil.txt"])
def test_zip_members_outside_the_target_are_refused(tmp_path, member):
    archive = tmp_path / "bad.zip"
    archive.write_bytes(zip_bytes({"ok/1.txt": b"1", member: b"pwned"}))
    with pytest.raises(UnsafeArchive, match="evil.txt"):
        safe_extract(archive, tmp_path / "out")
    assert not (tmp_path / "evil.txt").exists() and not (tmp_path / "out" / "ok").exists()


def test_links_in_archives_are_refused(tmp_path):
    archive = tmp_path / "bad.tar"
    with tarfile.open(archive, "w") as t:
        info = tarfile.TarInfo("data/passwd")
        info.type, info.linkname = tarfile.SYMTYPE, "/etc/passwd"
        t.addfile(info)
    with pytest.raises(UnsafeArchive, match="'data/passwd' is a link"):
        safe_extract(archive, tmp_path / "out")
    zarchive = tmp_path / "bad.zip"
    with zipfile.ZipFile(zarchive, "w") as z:
        info = zipfile.ZipInfo("data/link")
        info.external_attr = 0o120777 << 16
        z.writestr(info, "/etc/passwd")
    with pytest.raises(UnsafeArchive, match="'data/link' is a link"):
        safe_extract(zarchive, tmp_path / "out2")


def intel_zip() -> bytes:
    members = {}
    for split, n in (("seg_train", 6), ("seg_test", 2)):
        for k, c in enumerate(["buildings", "forest", "glacier"]):
            for i in range(n):
                seed = k * 20 + i + (1000 if split == "seg_test" else 0)
                members[f"{split}/{split}/{c}/{i}.jpg"] = image_bytes(seed, "JPEG")
    members["seg_pred/seg_pred/1.jpg"] = image_bytes(999, "JPEG")
    return zip_bytes(members)


class FakeKaggleApi:
    """The official client's boundary: authenticate + dataset_download_files."""

    calls: list = []

    def authenticate(self):
        FakeKaggleApi.calls.append("authenticate")

    def dataset_download_files(self, dataset, path=None, force=False, quiet=True, unzip=False):
        FakeKaggleApi.calls.append(dataset)
        Path(path, dataset.split("/")[1] + ".zip").write_bytes(intel_zip())


KAGGLE_VARS = ("KAGGLE_API_TOKEN", "KAGGLE_USERNAME", "KAGGLE_KEY", "KAGGLE_CONFIG_DIR")


def test_kaggle_without_a_token_says_what_to_set(tmp_path, monkeypatch):
    for var in KAGGLE_VARS:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    with pytest.raises(DataError) as err:
        download(
            {
                "kind": "kaggle",
                "dataset": "puneet6060/intel-image-classification",
                "train": "**/seg_train",
            },
            tmp_path / "Intel",
            kaggle_api=FakeKaggleApi,
        )
    message = str(err.value)
    assert "KAGGLE_API_TOKEN" in message and "~/.kaggle/access_token" in message
    assert "\n" not in message  # one line
    assert "authenticate" not in FakeKaggleApi.calls


def test_kaggle_download_layout_and_no_secret_anywhere(tmp_path, monkeypatch, capsys):
    secret = "kgat_s3cr3t-token-value"
    for var in KAGGLE_VARS:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("KAGGLE_API_TOKEN", secret)
    source = {
        "kind": "kaggle",
        "dataset": "puneet6060/intel-image-classification/2",
        "train": "**/seg_train",
        "test": "**/seg_test",
    }
    record = download(source, tmp_path / "Intel", kaggle_api=FakeKaggleApi)
    t, m = prepare_dataset("Intel", cfg(source), tmp_path)
    assert m["source"]["version"] == 2  # the pinned version is recorded
    assert m["class_names"] == ["buildings", "forest", "glacier"]
    assert m["n_images"]["test"] == 6 and m["split"]["test"] == "official"
    assert m["n_images"]["train"] + m["n_images"]["val"] == 18  # seg_pred is not used
    out = capsys.readouterr()
    for text in (json.dumps(record), json.dumps(m), out.out, out.err):
        assert secret not in text


def test_a_layout_that_does_not_match_lists_what_is_there(server, tmp_path):
    source = {"kind": "http", "files": rps_archives(server), "train": "training"}
    download(source, tmp_path / "RPS", progressbar=False)
    with pytest.raises(DataError, match=r"0 folders match 'training'.*rps-test-set"):
        prepare_dataset("RPS", cfg(source), tmp_path)


def test_cli_reports_a_missing_token_in_one_line_without_traceback(tmp_path):
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k not in KAGGLE_VARS} | {"HOME": str(tmp_path)}
    settings = json.dumps(
        {
            "source": {
                "kind": "kaggle",
                "dataset": "alxmamaev/flowers-recognition",
                "train": "**/flowers",
            }
        }
    )
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "gsos",
            "download",
            "--name",
            "Flowers",
            "--settings",
            settings,
            "--resources",
            str(tmp_path / "res"),
            "--out",
            str(tmp_path / "d.json"),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert run.returncode != 0
    assert run.stderr.strip().splitlines() == [f"error: {KAGGLE_HELP}"]


def test_kaggle_with_a_token_but_no_network_says_so_in_one_line(tmp_path):
    """The real client, pointed at a loopback port where nothing listens (KAGGLE_API_ENVIRONMENT
    TEST is localhost:7777): one line naming the dataset and what to check, and no secret."""
    import os
    import socket
    import subprocess
    import sys

    with socket.socket() as s:  # nothing may listen there, or this is not 'no network'
        if s.connect_ex(("127.0.0.1", 7777)) == 0:
            pytest.skip("something listens on 127.0.0.1:7777")
    secret = "kgat_n0-netw0rk-s3cret"
    env = {k: v for k, v in os.environ.items() if k not in KAGGLE_VARS} | {
        "HOME": str(tmp_path),
        "KAGGLE_API_TOKEN": secret,
        "KAGGLE_API_ENVIRONMENT": "TEST",
    }
    source = {"kind": "kaggle", "dataset": "alxmamaev/flowers-recognition/2", "train": "flowers"}
    run = subprocess.run(
        [sys.executable, "-m", "gsos", "download", "--name", "Flowers"]
        + ["--settings", json.dumps({"source": source}), "--resources", str(tmp_path / "r")]
        + ["--out", str(tmp_path / "d.json")],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert run.returncode != 0
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1, run.stderr[-3000:]
    assert "alxmamaev/flowers-recognition/2" in lines[0] and "network" in lines[0]
    assert secret not in run.stdout + run.stderr


def test_errors_a_retry_cannot_fix_are_not_retried(server, tmp_path):
    wrong = server.add("/data/rps.zip", zip_bytes({"rps/a/1.png": image_bytes(1)}))
    wrong["sha256"] = "0" * 64
    missing = {"url": server.url("/gone.zip"), "sha256": "1" * 64}
    for entry, message in ((wrong, "checksum mismatch"), (missing, "404")):
        with pytest.raises(DataError, match=message):
            download(
                {"kind": "http", "files": [entry], "train": "rps", "retries": 3},
                tmp_path / "x",
                progressbar=False,
            )
    assert server.requests.count("/data/rps.zip") == 1
    assert server.requests.count("/gone.zip") == 1
