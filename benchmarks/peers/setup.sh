#!/usr/bin/env bash
# The peer toolkit's environment, apart from kseq2seq's: eole (OpenNMT-py's successor) on PyTorch's CPU build,
# in benchmarks/peers/.venv (git-ignored). Never a dependency of the package.
#
# OpenNMT-py 3.5.1 itself pins torch<2.3: PyPI has only CUDA builds of those (several GB), and PyTorch's CPU
# index is out of this machine's reach. eole 0.6.4 takes torch 2.10-2.14; pip on this machine finds the CPU
# build of 2.13.0 on disk (elsewhere it downloads PyPI's build of that version).
set -euo pipefail
cd "$(dirname "$0")"
PYTHON=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
# aiohttp: eole's command line imports it (its load-test tool) without declaring it.
.venv/bin/python -m pip install --quiet "torch==2.13.0" "eole==0.6.4" aiohttp
.venv/bin/eole -h >/dev/null
echo "eole $(.venv/bin/python -c 'import importlib.metadata as m; print(m.version("eole"))') on torch" \
     "$(.venv/bin/python -c 'import torch; print(torch.__version__)') in $(pwd)/.venv"
