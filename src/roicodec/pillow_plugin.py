"""Pillow reads and writes .rcz: ``Image.open("x.rcz")`` and ``im.save("x.rcz", bpp=0.3)`` after ``import roicodec``.

In the style of Pillow's own plugins: ``_open`` reads the header only (size, mode, and the model and
levels in ``info``) and sets one tile; the picture is decoded when Pillow loads the tile (``load()``,
or anything that needs pixels), by the installed model the file names, at the image's ``realism``
(default 0, the fidelity decoder; set it before loading). A file whose model is not installed fails on
load with an OSError that names the model id.

Saving takes ``bpp``, ``size`` or ``quality`` (exactly one; ``quality`` is a roicodec quality level,
not a JPEG 0-100 setting) and ``roi``, ``roi_strength``, ``effort``, ``scale``, ``model``, as
``roicodec.compress`` does. The pixels are saved as they are, like Pillow's other savers (EXIF
orientation is not applied: use ``ImageOps.exif_transpose`` first); a colour profile other than sRGB
(``im.info["icc_profile"]`` or ``icc_profile=``) is applied, since ``.rcz`` stores sRGB. The whole file is encoded before
a byte is written, so a failed save writes nothing; Pillow itself removes a file it created for a
save that failed, but a file that already existed has been truncated by Pillow before the plugin runs.

This module is imported by ``import roicodec``; it must stay cheap: PIL and the bitstream module (which imports numpy only
when it meets an importance map) at import time, torch (api) only inside decode and save.
"""

from __future__ import annotations

from typing import IO

from PIL import Image, ImageFile

from . import bitstream
from .errors import BitstreamError, ModelMismatchError, RoicodecError

FORMAT = "RCZ"
EXTENSION = ".rcz"
MIME = "image/x-rcz"
#: The Python decoder Pillow runs on a .rcz tile.
DECODER = "roicodec"
#: Keywords of ``Image.save`` that reach ``roicodec.compress``; other keywords are ignored, as
#: Pillow's plugins ignore options meant for other formats.
SAVE_OPTIONS = ("bpp", "size", "quality", "roi", "roi_strength", "effort", "scale", "model")
_BUDGETS = ("bpp", "size", "quality")


def _accept(prefix: bytes) -> bool:
    return prefix[: len(bitstream.MAGIC)] == bitstream.MAGIC


class RczImageFile(ImageFile.ImageFile):
    format = FORMAT
    format_description = "roicodec learned image"
    #: Decode-time realism in [0, 1] (0: the fidelity decoder), like Pillow's ``draft`` a choice made between
    #: ``Image.open`` and ``load()``: ``im = Image.open("x.rcz"); im.realism = 1.0; im.load()``.
    realism: float = 0.0

    def load(self):  # type: ignore[override]
        if self.tile:  # the tile carries the realism to the decoder
            self.tile = [ImageFile._Tile(t.codec_name, t.extents, t.offset, (float(self.realism),)) for t in self.tile]
        return super().load()

    def _open(self) -> None:
        assert self.fp is not None
        data = self.fp.read()
        if not _accept(data):
            raise SyntaxError("not a .rcz file")
        try:
            f = bitstream.peek_header(data)["file"]
        except BitstreamError as exc:
            raise OSError(f"cannot read .rcz file: {exc}") from exc
        self._size = (f.width, f.height)
        self._mode = f.mode
        self.info.update(
            model_id=f.model_id.hex(),
            base_level=f.base_level,
            roi_strength=f.roi_strength,
            has_roi=f.importance is not None,
            scale=f.scale / bitstream.SCALE_ONE,
            bpp=8 * len(data) / (f.width * f.height),
        )
        # one tile for the whole picture; RczDecoder reads the file again from its start when loaded
        self.tile = [ImageFile._Tile(DECODER, (0, 0, *self.size), 0, ())]


class RczDecoder(ImageFile.PyDecoder):
    """Decodes the whole file at once with ``roicodec.decompress`` (torch is imported here, on first use)."""

    _pulls_fd = True

    def decode(self, buffer: bytes) -> tuple[int, int]:
        assert self.fd is not None
        data = self.fd.read()
        from .api import decompress

        try:
            picture = decompress(data, realism=self.args[0] if self.args else 0.0)
        except ModelMismatchError as exc:
            model_id = bitstream.peek_header(data)["model_id"]
            raise OSError(
                f"cannot decode this .rcz file: it was made by model {model_id}, which is not installed; "
                "decode it with roicodec.decompress(data, model=roicodec.load_model(<its weights file>))"
            ) from exc
        except RoicodecError as exc:
            raise OSError(f"cannot decode this .rcz file: {exc}") from exc
        if picture.mode != self.mode or picture.size != (self.state.xsize, self.state.ysize):
            raise OSError(f"decoded {picture.mode} {picture.size} does not match the header")
        self.set_as_raw(picture.tobytes())
        return -1, 0


def _save(im: Image.Image, fp: IO[bytes], filename: str | bytes) -> None:
    options = {k: im.encoderinfo[k] for k in SAVE_OPTIONS if im.encoderinfo.get(k) is not None}
    if sum(k in options for k in _BUDGETS) != 1:
        raise ValueError("saving .rcz needs exactly one of bpp=, size= or quality= (e.g. im.save('x.rcz', bpp=0.3))")
    from .api import compress

    fp.write(compress(_pixels_only(im), **options))


def _pixels_only(im: Image.Image) -> Image.Image:
    """The picture without the metadata that would make roicodec rotate it (EXIF/XMP orientation);
    transparency stays, since it decides what is composited onto white, and so does the colour profile
    (``icc_profile=`` given to ``save`` first, as Pillow's other savers take it), which makes the coded
    numbers sRGB."""
    plain = im.copy()
    plain.info = {k: im.info[k] for k in ("transparency", "icc_profile") if k in im.info}
    if im.encoderinfo.get("icc_profile"):
        plain.info["icc_profile"] = im.encoderinfo["icc_profile"]
    return plain


Image.register_open(FORMAT, RczImageFile, _accept)
Image.register_save(FORMAT, _save)
Image.register_decoder(DECODER, RczDecoder)
Image.register_extension(FORMAT, EXTENSION)
Image.register_mime(FORMAT, MIME)
