"""Cold start (issue 25): what importing roicodec and starting the command pull in.

Each check runs in a fresh interpreter, since this process has imported everything already. No
timings here (they would be flaky); benchmarks/cold_start.py measures them (docs/cold_start.md).
"""

import json
import subprocess
import sys

import pytest

#: Modules that only CompressAI's package __init__ reaches and roicodec never needs.
HEAVY = ("torch_geometric", "compressai.datasets", "compressai.zoo", "torchvision", "torch._dynamo")


def _modules_after(code: str) -> set[str]:
    probe = f"{code}\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=300)
    return set(json.loads(out.stdout.splitlines()[-1]))


def _loaded(modules: set[str], prefix: str) -> bool:
    return any(m == prefix or m.startswith(prefix + ".") for m in modules)


def test_import_roicodec_does_not_import_torch():
    mods = _modules_after("import roicodec")
    assert not _loaded(mods, "torch")
    assert not _loaded(mods, "compressai")


@pytest.mark.parametrize("code", [
    "import roicodec.api",
    "import roicodec; roicodec.decompress",  # the lazy public names
    "from roicodec import compress, decompress, load_model, RoiCodecWeights",
    "import roicodec.cli; import roicodec.decoder; import roicodec.encoder; import roicodec.models",
])
def test_codec_import_path_skips_compressai_package_init(code):
    mods = _modules_after(code)
    assert _loaded(mods, "compressai.entropy_models") and _loaded(mods, "compressai.ans")
    for name in HEAVY:
        assert not _loaded(mods, name), f"{code!r} imported {name}"
    # scipy.stats is imported by CompressAI's GaussianConditional.update only when tables are built.
    assert not _loaded(mods, "scipy.stats")


def test_public_names_all_resolve():
    code = ("import roicodec\n"
            "missing = [n for n in roicodec.__all__ if getattr(roicodec, n, None) is None]\n"
            "assert not missing, missing\n"
            "assert set(roicodec.__all__) <= set(dir(roicodec))\n"
            "from roicodec import *\n")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=300)


@pytest.mark.parametrize("args", [["--version"], ["--help"], ["decompress", "--help"]])
def test_cli_version_and_help_do_not_import_torch(args):
    code = ("import sys, runpy\n"
            f"sys.argv = ['roicodec', *{args!r}]\n"
            "try:\n"
            "    runpy.run_module('roicodec.cli', run_name='__main__')\n"
            "except SystemExit as e:\n"
            "    assert e.code in (0, None), e.code\n"
            "print('torch' in sys.modules, 'compressai' in sys.modules, 'numpy' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=300)
    # numpy too: alone it takes most of the 0.3 s that --version and --help may take.
    assert out.stdout.splitlines()[-1] == "False False False", out.stdout


def test_compressai_stays_usable_after_roicodec():
    """A user's later ``import compressai`` gets the whole package, loaded on first use; the full
    package's torch_geometric still warns about torch.jit.script, which roicodec's filter hides."""
    code = ("import roicodec.api, sys\n"
            "import compressai\n"
            "assert compressai.get_entropy_coder() == 'ans' and compressai.__version__\n"
            "assert 'compressai.zoo' not in sys.modules\n"
            "from compressai.zoo import bmshj2018_factorized\n"
            "assert compressai.datasets.__name__ == 'compressai.datasets'\n"
            "from compressai.entropy_models import GaussianConditional\n"
            "g = GaussianConditional([0.11, 1.0, 10.0]); g.update()  # scipy.stats, loaded on use\n"
            "assert g._quantized_cdf.numel()\n")
    subprocess.run([sys.executable, "-W", "error::FutureWarning", "-c", code], check=True, timeout=300)


def test_compressai_imported_first_is_left_alone():
    code = ("import compressai, sys\n"
            "zoo = sys.modules['compressai.zoo']\n"
            "import roicodec.api\n"
            "assert sys.modules['compressai'] is compressai and compressai.zoo is zoo\n")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=300)
