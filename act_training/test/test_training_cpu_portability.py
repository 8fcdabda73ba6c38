"""Every inference precision works on every CPU, without assuming the one the tests run on.

An AVX2+FMA-only EPYC (no AVX-512, no native bf16) is simulated on any x86 machine with
act_common.cpu_features.AVX2_ONLY_ENV: ACT_CPU_FLAGS_DISABLE hides the flags from our own
choices, and ONEDNN_MAX_CPU_ISA=AVX2 makes oneDNN's kernels behave as on such a CPU (its
packed bf16 reorder then fails with the very error seen on the AVX2 EPYC, checked below).
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from act_common.cpu_features import AVX2_ONLY_ENV, cpu_features
from act_training.model.inference import ActInference
from act_training.model.onednn import PackedLinear, onednn_available
from act_training.model.runner import CpuRunner, packs_linear_weights

ROOT = Path(__file__).resolve().parents[2]
X86 = platform.machine() == 'x86_64'
REORDER_ERROR = 'bf16 path needs the cpu support avx_ne_convert or avx512bw, avx512vl and avx512dq'

# A tiny checkpoint, loaded with ActPolicy at each precision; prints what ran as JSON.
_LOAD_AT_EACH_PRECISION = r'''
import json, sys
import numpy as np, torch
sys.path.insert(0, sys.argv[2])
from training_episodes import tiny_model_config
from act_common.cpu_features import cpu_features
from act_training.config import DatasetInfo, TrainConfig
from act_training.data.normalization import Normalization, VectorStats
from act_training.model import build_model
from act_training.model.onednn import PackedLinear
from act_training.policy import ActPolicy
from act_training.train.checkpoint import save_checkpoint

config = tiny_model_config(camera_names=('top',), state_dim=4, action_dim=4, image_height=48, image_width=64, chunk_size=6)
torch.manual_seed(0)
save_checkpoint(sys.argv[1], state_dict=build_model(config).state_dict(), model_config=config, train_config=TrainConfig(),
                dataset=DatasetInfo(vector_names=('a', 'b', 'c', 'd'), camera_names=('top',), control_rate_hz=50.0),
                normalization=Normalization(VectorStats(np.zeros(4), np.ones(4)), VectorStats(np.zeros(4), np.ones(4)), 0.01),
                step=1)
image = {'top': np.random.default_rng(0).integers(0, 256, (48, 64, 3), dtype=np.uint8)}
qpos = np.array([0.1, -0.2, 0.3, 0.0])
out = {'cpu': cpu_features().describe()}
for precision in ('auto', 'fp32', 'bf16'):
    policy = ActPolicy.load(sys.argv[1], precision=precision)
    chunk = policy.predict_chunk(image, qpos)
    packed = any(isinstance(m, PackedLinear) for m in policy._runner.engine.modules())
    out[precision] = {'runs_as': policy.precision, 'detail': policy.precision_detail, 'packed': packed,
                      'finite': bool(np.isfinite(chunk).all()), 'chunk': chunk.tolist()}
print(json.dumps(out))
'''


def _avx2_env() -> dict[str, str]:
    return {**os.environ, **AVX2_ONLY_ENV}


@pytest.mark.slow  # torch in a process of its own
@pytest.mark.skipif(not X86, reason='ONEDNN_MAX_CPU_ISA=AVX2 simulates an x86 AVX2-only CPU; this CPU is not x86_64')
def test_the_onednn_isa_cap_reproduces_the_avx2_reorder_failure():
    # Without this the simulated runs below would prove nothing: capped at AVX2, oneDNN
    # refuses the packed bf16 reorder exactly as on the AVX2-only EPYC.
    probe = ('import torch\n'
             'torch.ops.mkldnn._reorder_linear_weight(torch.randn(64, 32, dtype=torch.bfloat16), 8)\n')
    result = subprocess.run([sys.executable, '-c', probe], env=_avx2_env(), capture_output=True, text=True, timeout=120)
    assert result.returncode != 0 and REORDER_ERROR in result.stderr, result.stderr[-2000:]


@pytest.mark.slow  # torch in a process of its own
@pytest.mark.skipif(not X86, reason='simulates an x86 AVX2-only CPU; this CPU is not x86_64')
def test_bf16_on_an_avx2_only_cpu_runs_unpacked_and_auto_picks_fp32(tmp_path):
    # The pinned behaviour: ActPolicy.load(..., precision='bf16') on an AVX2-only CPU
    # works, with its linear layers unpacked (the packed bf16 reorder would crash), bf16
    # storage and fp32 products; auto resolves to fp32 there.
    result = subprocess.run([sys.executable, '-c', _LOAD_AT_EACH_PRECISION, str(tmp_path / 'ckpt'),
                             str(Path(__file__).parent)], env=_avx2_env(), capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    ran = json.loads(result.stdout.strip().splitlines()[-1])
    assert 'native bf16: False' in ran['cpu'] and 'oneDNN bf16 packing: False' in ran['cpu']
    assert ran['auto']['runs_as'] == 'fp32' and ran['fp32']['runs_as'] == 'fp32' and ran['bf16']['runs_as'] == 'bf16'
    assert not ran['bf16']['packed'] and 'no native bf16' in ran['bf16']['detail'] and 'slower than fp32' in ran['bf16']['detail']
    assert all(ran[p]['finite'] for p in ('auto', 'fp32', 'bf16'))
    fp32, bf16 = torch.tensor(ran['fp32']['chunk']), torch.tensor(ran['bf16']['chunk'])
    assert torch.allclose(bf16, fp32, rtol=0.05, atol=0.05 * float(fp32.abs().max())), (bf16 - fp32).abs().max()
    assert ran['fp32']['packed'] == onednn_available()


@pytest.mark.slow
@pytest.mark.skipif(not X86, reason='simulates an x86 AVX2-only CPU; this CPU is not x86_64')
def test_the_precision_and_fast_path_tests_pass_as_on_an_avx2_only_cpu(tmp_path):
    # The suite's tests that touch precisions and CPU kernels, run as on an AVX2-only
    # EPYC: `make test` must pass on either kind of machine.
    tests = ['act_training/test/test_training_model.py::test_fast_inference_path_matches_the_model',
             'act_training/test/test_training_model.py::test_precision_resolves_per_device',
             'act_training/test/test_training_model.py::test_onednn_linear_is_nn_linear_in_value_and_gradient',
             'act_training/test/test_training_model.py::test_packed_backbone_is_the_folded_backbone',
             'act_training/test/test_training_model.py::test_packed_backbone_in_bf16_is_within_bf16_rounding',
             'act_training/test/test_training_model.py::test_cpu_runner_packs_the_backbone_where_it_packs_weights',
             'act_training/test/test_training_policy.py', 'act_common/test/test_common_cpu_features.py',
             'act_training/test/test_training_cpu_portability.py::test_bf16_weights_are_packed_where_the_cpu_allows']
    # A basetemp of its own: the nested session must neither prune nor clear the outer one's.
    result = subprocess.run([sys.executable, '-P', '-m', 'pytest', '-q', '-rs', '-p', 'no:cacheprovider',
                             '--basetemp', str(tmp_path / 'nested'), *tests],
                            cwd=ROOT, env=_avx2_env(), capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert ' passed' in result.stdout and ' failed' not in result.stdout
    # The packed-bf16 test must skip there, naming why.
    assert 'packed bf16 reorder is not available here' in result.stdout, result.stdout[-2000:]


@pytest.mark.skipif(not cpu_features().onednn_bf16_packing,
                    reason=f'oneDNN\'s packed bf16 reorder is not available here ({cpu_features().describe()})')
def test_bf16_weights_are_packed_where_the_cpu_allows():
    from training_episodes import tiny_model_config
    from act_training.model import build_model

    model = build_model(tiny_model_config(camera_names=('top',), state_dim=4, action_dim=4, image_height=48,
                                          image_width=64)).eval()
    runner = CpuRunner(ActInference(model), torch.bfloat16)
    assert runner.packed == packs_linear_weights(torch.bfloat16) == onednn_available()
    assert any(isinstance(m, PackedLinear) for m in runner.engine.modules()) == runner.packed
