"""Getting a dataset's files: hash-checked HTTP downloads, the Kaggle API, safe extraction.

Layout under ``resources/<dataset>/``: ``downloads/`` keeps what was fetched (reused when its
checksum still matches) and ``data/`` holds the extracted archives and plain files that
preparation reads. HTTP downloads go through pooch, which writes to a temporary file, checks
the hash, and only then moves the file into place: a mismatch or a truncated transfer never
leaves a file behind.
"""

from __future__ import annotations

import os
import shutil
import stat
import tarfile
import zipfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlparse

from gsos.errors import DataError
from gsos.progress import Ticker


class UnsafeArchive(DataError):
    pass


# --- safe extraction ------------------------------------------------------------------------


def _check_member(name: str, archive: Path) -> None:
    p = PurePosixPath(name.replace("\\", "/"))
    if p.is_absolute() or name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":"):
        raise UnsafeArchive(
            f"{archive.name}: member {name!r} has an absolute path; refusing to extract"
        )
    if ".." in p.parts:
        raise UnsafeArchive(
            f"{archive.name}: member {name!r} climbs out with '..'; refusing to extract"
        )


def safe_extract(archive: Path, dest: Path) -> list[str]:
    """Extract a zip or tar archive into ``dest``; refuse members that would land outside it
    (absolute paths, '..', symbolic or hard links), naming the member. Returns member names."""
    dest.mkdir(parents=True, exist_ok=True)
    root = dest.resolve()
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as z:
            infos = z.infolist()
            for info in infos:
                _check_member(info.filename, archive)
                if stat.S_ISLNK(info.external_attr >> 16):
                    raise UnsafeArchive(
                        f"{archive.name}: member {info.filename!r} is a link; refusing to extract"
                    )
                if not (root / info.filename).resolve().is_relative_to(root):
                    raise UnsafeArchive(
                        f"{archive.name}: member {info.filename!r} lands outside {dest}"
                    )
            z.extractall(dest)
            return [i.filename for i in infos]
    if tarfile.is_tarfile(archive):
        with tarfile.open(archive) as t:
            members = t.getmembers()
            for m in members:
                _check_member(m.name, archive)
                if m.issym() or m.islnk():
                    raise UnsafeArchive(
                        f"{archive.name}: member {m.name!r} is a link; refusing to extract"
                    )
                if not (m.isfile() or m.isdir()):
                    raise UnsafeArchive(
                        f"{archive.name}: member {m.name!r} is not a file or folder"
                    )
                if not (root / m.name).resolve().is_relative_to(root):
                    raise UnsafeArchive(f"{archive.name}: member {m.name!r} lands outside {dest}")
            t.extractall(dest, filter="data")
            return [m.name for m in members]
    raise DataError(f"{archive.name}: not a zip or tar archive")


def is_archive(path: Path) -> bool:
    return path.suffix.lower() in {".zip", ".tar", ".gz", ".tgz", ".bz2", ".xz"} and (
        zipfile.is_zipfile(path) or tarfile.is_tarfile(path)
    )


# --- HTTP ----------------------------------------------------------------------------------


def known_hash(entry: Mapping[str, Any]) -> str:
    for algo in ("sha256", "md5"):
        if entry.get(algo):
            return f"{algo}:{entry[algo]}"
    raise DataError(f"{entry.get('url')}: give a sha256 (or md5) so the download can be verified")


def transient(error: BaseException) -> bool:
    """Whether trying again can help: a dropped or refused connection, a timeout, a server
    error (5xx) or a rate limit (429); not a checksum mismatch or a 404."""
    import requests

    if isinstance(error, requests.HTTPError):
        status = error.response.status_code if error.response is not None else 0
        return status >= 500 or status in (408, 429)
    return isinstance(
        error,
        requests.ConnectionError | requests.Timeout | requests.exceptions.ChunkedEncodingError,
    )


def fetch_http(
    files: Sequence[Mapping[str, Any]],
    downloads: Path,
    retries: int = 3,
    progressbar: bool = True,
    timeout: float = 60.0,
    backoff: float = 1.0,
    say: Callable[[str], None] | None = None,
) -> list[Path]:
    """Download each file, verify size and hash, return paths.

    Transient errors are retried (``retries`` times, waiting ``backoff``, 2×``backoff``, …
    seconds); a checksum mismatch or an HTTP error such as 404 fails at once.
    """
    import time

    import pooch
    import requests

    downloads.mkdir(parents=True, exist_ok=True)
    names = [Path(urlparse(f["url"]).path).name for f in files]
    fetcher = pooch.create(
        path=downloads,
        base_url="",
        retry_if_failed=0,  # pooch would retry a checksum mismatch too; we decide below
        registry={n: known_hash(f) for n, f in zip(names, files, strict=True)},
        urls={n: f["url"] for n, f in zip(names, files, strict=True)},
    )
    out = []
    for name, f in zip(names, files, strict=True):
        for attempt in range(retries + 1):
            bar: Any = progressbar
            if progressbar and say is not None:  # a line on the console every 10 s instead
                bar = Ticker(f"downloading {f['url']}", f.get("size"), say, unit="B")
            downloader = pooch.HTTPDownloader(progressbar=bar, timeout=timeout)
            try:
                path = Path(fetcher.fetch(name, downloader=downloader))
                break
            except ValueError as e:  # pooch: hash mismatch (the temporary file is already gone)
                (downloads / name).unlink(missing_ok=True)
                raise DataError(
                    f"{f['url']}: checksum mismatch ({e}). The file was removed; check the URL "
                    "and the sha256/md5 in the config, then run again."
                ) from None
            except requests.RequestException as e:
                (downloads / name).unlink(missing_ok=True)
                if not transient(e):
                    raise DataError(f"{f['url']}: download failed ({e}); not retried") from None
                if attempt == retries:
                    raise DataError(
                        f"{f['url']}: download failed after {retries} retries ({e})"
                    ) from None
                time.sleep(backoff * (attempt + 1))
        if f.get("size") and path.stat().st_size != int(f["size"]):
            size = path.stat().st_size
            path.unlink()
            raise DataError(
                f"{f['url']}: got {size} bytes, expected {f['size']}; the file was removed"
            )
        out.append(path)
    return out


# --- Kaggle ----------------------------------------------------------------------------------

KAGGLE_HELP = (
    "Kaggle credentials not found: create a token at https://www.kaggle.com/settings/api and "
    "either export KAGGLE_API_TOKEN=<token> or save it to ~/.kaggle/access_token "
    "(a legacy ~/.kaggle/kaggle.json, or KAGGLE_USERNAME and KAGGLE_KEY, also work)"
)


def kaggle_credentials_present(
    env: Mapping[str, str] | None = None, home: Path | None = None
) -> bool:
    """Whether the official client will find credentials; reads no secret's value."""
    env = os.environ if env is None else env
    home = Path.home() if home is None else home
    if env.get("KAGGLE_API_TOKEN") or (env.get("KAGGLE_USERNAME") and env.get("KAGGLE_KEY")):
        return True
    config_dir = Path(env.get("KAGGLE_CONFIG_DIR", home / ".kaggle"))
    return any((config_dir / f).is_file() for f in ("access_token", "kaggle.json"))


def _one_line(e: BaseException, limit: int = 160) -> str:
    """An exception as one short line, with any credential in the environment blanked out."""
    text = " ".join(str(e).split()) or type(e).__name__
    root = e
    while root.__cause__ or root.__context__:  # requests hides the useful part inside
        root = root.__cause__ or root.__context__
    if root is not e:
        text = f"{type(e).__name__}: {' '.join(str(root).split())}"
    for var in ("KAGGLE_API_TOKEN", "KAGGLE_KEY"):
        if os.environ.get(var):
            text = text.replace(os.environ[var], "***")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def fetch_kaggle(
    dataset: str, downloads: Path, api_factory: Callable[[], Any] | None = None
) -> list[Path]:
    """Download a Kaggle dataset's zip with the official client (``kaggle`` package)."""
    if not kaggle_credentials_present():
        raise DataError(KAGGLE_HELP)
    if api_factory is None:
        from kaggle.api.kaggle_api_extended import KaggleApi as api_factory
    downloads.mkdir(parents=True, exist_ok=True)
    api = api_factory()
    try:
        api.authenticate()
        api.dataset_download_files(dataset, path=str(downloads), quiet=False, unzip=False)
    except SystemExit:  # the client exits on authentication failure; its text was printed
        raise DataError(f"Kaggle refused the credentials for {dataset}. {KAGGLE_HELP}") from None
    except Exception as e:  # noqa: BLE001 - no network, DNS, HTTP errors: one line, no trace
        raise DataError(
            f"Kaggle download of {dataset} failed ({_one_line(e)}); check the network "
            "connection (and a proxy, if you use one), the dataset's owner/name/version, "
            "and that your token is valid"
        ) from None
    zips = sorted(downloads.glob("*.zip"))
    if not zips:
        raise DataError(f"Kaggle download of {dataset} produced no zip in {downloads}")
    return zips


# --- one dataset -----------------------------------------------------------------------------


def download(
    source: Mapping[str, Any],
    root: Path,
    kaggle_api: Callable[[], Any] | None = None,
    progressbar: bool = True,
    say: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Fetch and unpack one dataset's files into ``root/data``; return what was done."""
    downloads, data = root / "downloads", root / "data"
    if source["kind"] == "http":
        files = fetch_http(
            source["files"],
            downloads,
            retries=int(source.get("retries", 3)),
            progressbar=progressbar,
            say=say,
        )
    elif source["kind"] == "kaggle":
        files = fetch_kaggle(source["dataset"], downloads, kaggle_api)
    else:
        raise DataError(f"source kind {source['kind']!r} has nothing to download")
    if data.exists():
        shutil.rmtree(data)  # a rerun starts from what was verified, not from a half-unpacked tree
    data.mkdir(parents=True)
    unpacked = {}
    for f in files:
        if is_archive(f):
            unpacked[f.name] = len(safe_extract(f, data))
        else:
            shutil.copy2(f, data / f.name)
            unpacked[f.name] = 1
    from gsos.data.prepare import sha256_file

    return {
        "kind": source["kind"],
        "files": [
            {"name": f.name, "bytes": f.stat().st_size, "sha256": sha256_file(f)} for f in files
        ],
        "members": unpacked,
        "data": str(data),
    }


def download_to_file(
    name: str, source: Mapping[str, Any], resources: Path, out: Path, say: Callable[[str], None]
) -> dict[str, Any]:
    """The ``download`` verb: fetch one dataset into ``resources/<name>`` and write what was
    done (files, checksums, members) to ``out``."""
    import json

    from gsos.atomic import atomic_write_text

    record = download(source, Path(resources) / name, say=say)
    atomic_write_text(Path(out), json.dumps(record, indent=2) + "\n")
    return record
