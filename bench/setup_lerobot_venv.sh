#!/usr/bin/env bash
# Creates the benchmark-only venvs with LeRobot (the reference ACT we compare against), one
# per release series: .venv-lerobot04 (0.4.x), .venv-lerobot03 (0.3.x) at the repository root. They are kept out of .venv on
# purpose: lerobot pins its own versions of many packages and must never change what the
# suite runs on. Several GB each; takes minutes; run it once.
#   bash bench/setup_lerobot_venv.sh               # both releases below
#   bash bench/setup_lerobot_venv.sh 0.4.4         # one
# Releases and their torch (Python 3.11):
#   0.4.4: the newest release that installs on Python 3.11 (0.5 needs 3.12); it pins its
#          own torch (below 2.11), which pip picks.
#   0.3.2: resolves with our torch 2.14.1 / torchvision 0.29.1 pinned; unpinned pip would
#          pick 0.4.x instead.
# bench/bench_act_vs_lerobot.py finds every .venv-lerobot*/bin/python.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PYTHON="${PYTHON:-python3.11}"
RELEASES=("$@")
[ ${#RELEASES[@]} -gt 0 ] || RELEASES=(0.4.4 0.3.2)

for release in "${RELEASES[@]}"; do
  series="${release%.*}"  # 0.4.4 -> 0.4
  venv="$ROOT/.venv-lerobot${series//./}"  # -> .venv-lerobot04
  case "$release" in
    0.3.*) pins=(torch==2.14.1 torchvision==0.29.1) ;;
    *) pins=() ;;
  esac
  if [ -x "$venv/bin/python" ] && "$venv/bin/python" -c 'import lerobot, torch' 2>/dev/null; then
    echo "[bench] $venv already has lerobot $("$venv/bin/python" -c 'import importlib.metadata as m; print(m.version("lerobot"))')"
    continue
  fi
  echo "[bench] creating $venv (several GB, a few minutes)"
  "$PYTHON" -m venv "$venv"
  "$venv/bin/python" -m pip install -q --disable-pip-version-check "lerobot==$release" "${pins[@]}"
  "$venv/bin/python" -c 'import importlib.metadata as m; print("[bench] lerobot", m.version("lerobot"), "torch", m.version("torch"))'
done
