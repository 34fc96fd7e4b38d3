"""`-` as input or output: standard input and output for pipes, whole files only, never a terminal."""

import io
import sys

import numpy as np
import pytest
from PIL import Image

from roicodec.cli import main

from .conftest import synthetic_image


class _Stream:
    """A standard stream with a byte buffer, a terminal or not."""

    def __init__(self, data: bytes = b"", tty: bool = False) -> None:
        self.buffer = io.BytesIO(data)
        self.tty = tty

    def isatty(self) -> bool:
        return self.tty

    def write(self, text: str) -> int:  # print() to it, if a stray one came, would land in the bytes
        return self.buffer.write(text.encode())

    def flush(self) -> None:
        pass


@pytest.fixture
def png(tmp_path):
    p = tmp_path / "in.png"
    synthetic_image(100, 70, seed=4).save(p)
    return p


def _run(monkeypatch, args, stdin: bytes = b"", stdin_tty: bool = False, stdout_tty: bool = False):
    stdin_stream, stdout_stream = _Stream(stdin, stdin_tty), _Stream(tty=stdout_tty)
    monkeypatch.setattr(sys, "stdin", stdin_stream)
    monkeypatch.setattr(sys, "stdout", stdout_stream)
    code = main(args)
    monkeypatch.undo()
    return code, stdout_stream.buffer.getvalue()


def test_compress_and_decompress_through_pipes(tmp_path, png, monkeypatch, capsys):
    named = tmp_path / "named.rcz"
    assert main(["compress", str(png), "-o", str(named), "--quality", "3"]) == 0
    capsys.readouterr()
    code, rcz = _run(monkeypatch, ["compress", "-", "-o", "-", "--quality", "3"], stdin=png.read_bytes())
    assert code == 0 and rcz == named.read_bytes()  # the same file, all of it on stdout
    assert "<stdout>" in capsys.readouterr().err  # the summary moves to stderr

    code, decoded = _run(monkeypatch, ["decompress", "-", "-o", "-"], stdin=rcz)
    assert code == 0 and decoded.startswith(b"\x89PNG")
    assert main(["decompress", str(named), "-o", str(tmp_path / "named.png")]) == 0
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(decoded))), np.asarray(Image.open(tmp_path / "named.png")))

    code, _ = _run(monkeypatch, ["info", "-"], stdin=rcz)
    assert code == 0 and "100x70" in capsys.readouterr().out


@pytest.mark.parametrize(
    "args, stdin, stdin_tty, stdout_tty, needle",
    [
        (["compress", "-", "--quality", "3"], b"", False, False, "name the output with -o"),
        (["decompress", "-"], b"", False, False, "name the output with -o"),
        (["compress", "{png}", "-o", "-", "--quality", "3"], b"", False, True, "terminal"),
        (["decompress", "-", "-o", "-"], b"", True, False, "standard input is a terminal"),
        (["compress", "-", "-o", "{t}/x.rcz", "--quality", "3"], b"not a picture", False, False,
         "cannot read the image on standard input"),
        (["decompress", "-", "-o", "{t}/x.png"], b"\x89RCZ garbage", False, False, "roicodec: error:"),
    ],
)
def test_pipe_errors_are_one_line_and_write_nothing(tmp_path, png, monkeypatch, capsys, args, stdin, stdin_tty,
                                                    stdout_tty, needle):
    args = [a.format(t=tmp_path, png=png) for a in args]
    code, written = _run(monkeypatch, args, stdin=stdin, stdin_tty=stdin_tty, stdout_tty=stdout_tty)
    err = capsys.readouterr().err.strip()
    assert code == 1 and written == b""
    assert err.startswith("roicodec: error:") and "\n" not in err and needle in err
    assert not (tmp_path / "x.rcz").exists() and not (tmp_path / "x.png").exists()
