"""Third-party weights for automatic ROI sources: a cache folder first, the official URL second.

The cache is $ROICODEC_HOME, else $XDG_CACHE_HOME/roicodec, else ~/.cache/roicodec.
Nothing is downloaded unless a source is used and the file is missing; tests place
the files in a temporary cache or skip.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import tempfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from ..errors import RoicodecError


class SourceUnavailable(RoicodecError):
    """An automatic ROI source cannot run here (weights missing and not downloadable)."""


@dataclass(frozen=True)
class RemoteFile:
    name: str
    url: str
    sha256: str


def cache_dir() -> Path:
    if os.environ.get("ROICODEC_HOME"):
        return Path(os.environ["ROICODEC_HOME"])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "roicodec"


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def fetch(remote: RemoteFile, allow_download: bool = True) -> Path:
    """Path of a verified copy in the cache, downloading it once if allowed."""
    path = cache_dir() / remote.name
    if path.exists():
        if sha256_of(path) == remote.sha256:
            return path
        raise SourceUnavailable(f"{path} does not match the expected SHA-256; delete it to re-download")
    if not allow_download or os.environ.get("ROICODEC_OFFLINE"):
        raise SourceUnavailable(f"{remote.name} is not in {cache_dir()} and downloads are off")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".part")
        os.close(fd)
    except OSError as exc:  # an unwritable cache means "not available", so the fallback detector runs
        raise SourceUnavailable(f"cannot write to the cache {path.parent}: {exc}") from None
    try:
        with urllib.request.urlopen(remote.url, timeout=30) as r, open(tmp, "wb") as out:
            out.write(r.read())
        if sha256_of(Path(tmp)) != remote.sha256:
            raise SourceUnavailable(f"downloaded {remote.name} has the wrong SHA-256")
        os.replace(tmp, path)
    except (OSError, http.client.HTTPException) as exc:  # IncompleteRead is not an OSError
        raise SourceUnavailable(f"cannot download {remote.url}: {exc}") from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path
