#!/usr/bin/env bash
# Creates the benchmark-only venv with LeRobot (the reference ACT we compare against).
# It is kept out of .venv on purpose: lerobot pins its own versions of many packages and
# must never change what the suite runs on. Several GB; takes minutes; run it once.
#   bash bench/setup_lerobot_venv.sh            # -> $ROOT/.venv-lerobot
#   VENV_LEROBOT=/elsewhere bash bench/setup_lerobot_venv.sh
# Pinned torch/torchvision: with them pip resolves lerobot 0.3.2 from PyPI alone;
# unpinned it picks 0.4.x and downloads an older CUDA torch.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV_LEROBOT="${VENV_LEROBOT:-$ROOT/.venv-lerobot}"
PYTHON="${PYTHON:-python3.11}"

if [ -x "$VENV_LEROBOT/bin/python" ] && "$VENV_LEROBOT/bin/python" -c 'import lerobot, torch' 2>/dev/null; then
  echo "[bench] $VENV_LEROBOT already has lerobot $("$VENV_LEROBOT/bin/python" -c 'import importlib.metadata as m; print(m.version("lerobot"))')"
  exit 0
fi
echo "[bench] creating $VENV_LEROBOT (several GB, a few minutes)"
"$PYTHON" -m venv "$VENV_LEROBOT"
"$VENV_LEROBOT/bin/python" -m pip install -q --disable-pip-version-check \
  lerobot torch==2.14.1 torchvision==0.29.1
"$VENV_LEROBOT/bin/python" -c 'import importlib.metadata as m; print("[bench] lerobot", m.version("lerobot"), "torch", m.version("torch"))'
