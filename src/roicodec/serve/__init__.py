"""`roicodec serve`: a local web page to paint the ROI, pick the size and compare with AVIF and WebP
(docs/serve.md). Needs the ``ui`` extra (FastAPI, uvicorn, python-multipart); nothing is imported here,
so the command line stays fast: `app.py` is the HTTP layer, `jobs.py` the work a page asks for."""

#: Pictures the page accepts by default (--max-pixels): an encode and two baseline searches stay interactive.
DEFAULT_MAX_PIXELS = 16_000_000
