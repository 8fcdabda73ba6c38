#!/usr/bin/env python3
"""Our ACT against LeRobot's ACT: same config (the paper's: chunk 100, dim 512, 4+1 layers,
ResNet-18 at 480x640), same inputs (.npy files both read), same thread count.

Measures, per implementation, in its own process and venv:
  - inference latency per action chunk, 1 camera and 4 cameras, in fp32 and in bf16
    (ours: ActPolicy.predict_chunk from uint8 frames, precision fp32 / bf16; LeRobot:
    ACTPolicy.predict_action_chunk from float tensors, plain / under torch.autocast bf16,
    its `use_amp`), each against the other at the same precision, and each at its
    default: ours 'auto' (bf16 where the device computes bf16 natively), LeRobot fp32;
  - how far our bf16 chunk is from our fp32 chunk on the same inputs;
  - training samples/s at batch 8, 1 camera (forward, backward, AdamW step), fp32 both.
Runs alternate ours / LeRobot for `--rounds` rounds and keep each side's best median, so a
burst of load from other processes does not decide the ratio.

    bash bench/setup_lerobot_venv.sh                   # once: .venv-lerobot04, .venv-lerobot03
    .venv/bin/python bench/bench_act_vs_lerobot.py     # CPU
    python bench/bench_act_vs_lerobot.py --device cuda # GPU (LeRobot too where its venvs exist)

Against every LeRobot release given (--lerobot-python, repeatable; by default each
.venv-lerobot* venv at the repository root: bench/setup_lerobot_venv.sh makes them, one per
release, each with the torch that release resolves with), each side in its own process,
rounds alternating the order. The CPU model and flags are printed first.

Targets (issue 15): CPU fp32 inference of one camera >= 1.5x LeRobot 0.4.x, fp32 training
>= 1.5x; on an H200 a 4-camera chunk under 3 ms.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
from bench_inputs import make_inputs  # noqa: E402

try:
    from act_common.cpu_features import cpu_features
except ImportError:  # not sourced: the source tree's copy
    sys.path.insert(0, str(ROOT / 'act_common'))
    from act_common.cpu_features import cpu_features


def run_worker(python: str, script: str, what: str, precision: str, args, inputs: Path, warmup: int,
               iterations: int) -> dict | None:
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads), MKL_NUM_THREADS=str(args.threads))
    command = [python, str(HERE / script), '--inputs', str(inputs), '--what', what, '--device', args.device,
               '--precision', precision, '--threads', str(args.threads), '--warmup', str(warmup),
               '--iterations', str(iterations)]
    result = subprocess.run(command, capture_output=True, text=True, env=env)
    lines = [line for line in result.stdout.splitlines() if line.startswith('RESULT ')]
    if result.returncode != 0 or not lines:
        print(f'  {script} {what} failed (exit {result.returncode}):\n{result.stderr[-2000:]}', file=sys.stderr)
        return None
    return json.loads(lines[-1][len('RESULT '):])


def lerobot_peers(pythons: list[str]) -> list[tuple[str, str, str]]:
    """(label 'lerobot X.Y.Z', python, torch version) of each venv that imports lerobot."""
    peers = []
    for python in pythons:
        if not Path(python).is_file():
            print(f'note: {python} not found; skipped')
            continue
        probe = subprocess.run([python, '-c', 'import importlib.metadata as m; '
                                'print(m.version("lerobot"), m.version("torch"))'], capture_output=True, text=True)
        if probe.returncode != 0:
            print(f'note: {python} has no lerobot; skipped')
            continue
        version, torch_version = probe.stdout.split()
        peers.append((f'lerobot {version}', python, torch_version))
    return peers


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--device', choices=('cpu', 'cuda'), default='cpu')
    parser.add_argument('--threads', type=int, default=os.cpu_count())
    parser.add_argument('--rounds', type=int, default=2)
    parser.add_argument('--iterations', type=int, default=None, help='timed inference calls per run')
    parser.add_argument('--train-iterations', type=int, default=None, help='timed training steps per run')
    parser.add_argument('--skip-training', action='store_true')
    parser.add_argument('--precisions', default='fp32,bf16', help='inference precisions to compare (comma-separated)')
    parser.add_argument('--ours-python', default=sys.executable)
    parser.add_argument('--lerobot-python', action='append', default=None,
                        help='a LeRobot venv\'s python (repeatable; default: every .venv-lerobot*/bin/python)')
    args = parser.parse_args()
    gpu = args.device == 'cuda'
    iterations = args.iterations or (100 if gpu else 10)
    train_iterations = args.train_iterations or (30 if gpu else 4)
    warmup = 10 if gpu else 2
    print(cpu_features().describe())
    peers = lerobot_peers(args.lerobot_python or sorted(str(p) for p in ROOT.glob('.venv-lerobot*/bin/python')))
    if not peers:
        print('note: no LeRobot venv found (bash bench/setup_lerobot_venv.sh); measuring ours only')
    for name, python, torch_version in peers:
        print(f'peer: {name} ({python}, torch {torch_version})')

    precisions = [p for p in args.precisions.split(',') if p]
    measurements = [(what, precision) for what in ('infer_1cam', 'infer_4cam') for precision in precisions]
    measurements += [] if args.skip_training else [('train_b8', 'fp32')]
    best: dict[tuple[str, str, str], dict] = {}
    deviations: dict[str, tuple[float, float]] = {}
    with tempfile.TemporaryDirectory() as folder:
        inputs = Path(folder)
        make_inputs(inputs, max_cameras=4)
        for round_index in range(args.rounds):
            for what, precision in measurements:
                is_train = what.startswith('train')
                sides = [('ours', args.ours_python, '_bench_ours.py')]
                sides += [(name, python, '_bench_lerobot.py') for name, python, _ in peers]
                if round_index % 2:
                    sides.reverse()
                for impl, python, script in sides:
                    result = run_worker(python, script, what, precision, args, inputs,
                                        1 if is_train and not gpu else warmup, train_iterations if is_train else iterations)
                    if result is None:
                        continue
                    print(f'  round {round_index + 1} {impl:14s} {what:10s} {precision} median '
                          f'{result["median_ms"]:9.2f} ms', flush=True)
                    key = (impl, what, precision)
                    if key not in best or result['median_ms'] < best[key]['median_ms']:
                        best[key] = result
        for cameras in (1, 4):
            chunks = [inputs / f'chunk_ours_{cameras}cam_{p}.npy' for p in ('fp32', 'bf16')]
            if all(path.is_file() for path in chunks):
                fp32, bf16 = (np.load(path) for path in chunks)
                deviations[f'{cameras}cam'] = (float(np.abs(bf16 - fp32).max()), float(np.abs(fp32).max()))

    print(f'\nACT, paper config, 480x640, device {args.device}, {args.threads} threads '
          f'(best median of {args.rounds} alternating rounds)')
    names = [name for name, _, _ in peers]
    print(f'{"measurement":34s} {"precision":>9s} {"ours":>10s}' + ''.join(f' {n:>14s} {"ratio":>7s}' for n in names))
    cell = lambda v, width=10: f'{v:{width}.2f}' if v is not None else f'{"-":>{width}s}'  # noqa: E731
    rows = [('infer_1cam', p, 'inference, 1 camera (ms/chunk)') for p in precisions]
    rows += [('infer_4cam', p, 'inference, 4 cameras (ms/chunk)') for p in precisions]
    rows += [('train_b8', 'fp32', 'training, batch 8 (samples/s)')]
    for what, precision, label in rows:
        ours = best.get(('ours', what, precision))
        theirs = [best.get((name, what, precision)) for name in names]
        if ours is None and not any(theirs):
            continue
        if what.startswith('train'):
            value = lambda r: r['samples_per_s'] if r else None  # noqa: E731
            ratio = lambda o, t: value(o) / value(t) if o and t else None  # noqa: E731  (higher is better for us)
        else:
            value = lambda r: r['median_ms'] if r else None  # noqa: E731
            ratio = lambda o, t: value(t) / value(o) if o and t else None  # noqa: E731  (LeRobot time / ours)
        line = f'{label:34s} {precision:>9s} {cell(value(ours))}'
        for result in theirs:
            r = ratio(ours, result)
            line += f' {cell(value(result), 14)} {(f"{r:6.2f}x" if r else "-"):>7s}'
        print(line)
    print('ratio = how many times faster ours is (LeRobot time / ours; for training ours samples/s / LeRobot\'s)')
    # What our 'auto' resolves to on this device, as the ours worker reported it.
    auto = next((r['auto'] for (impl, _, _), r in best.items() if impl == 'ours' and 'auto' in r), 'fp32')
    for what, label in (('infer_1cam', '1 camera'), ('infer_4cam', '4 cameras')):
        for name in names:
            ours, theirs = best.get(('ours', what, auto)), best.get((name, what, 'fp32'))
            if ours and theirs:
                print(f'each at its default, {label}: ours ({auto}, precision auto) {ours["median_ms"]:.2f} ms, {name} '
                      f'(fp32) {theirs["median_ms"]:.2f} ms: {theirs["median_ms"] / ours["median_ms"]:.2f}x')
    for cameras, (difference, scale) in deviations.items():
        print(f'ours bf16 vs fp32, {cameras}: largest difference {difference:.4f} in a chunk whose largest entry is '
              f'{scale:.4f} (normalized units; random weights, see bench/bench_precision.py for a trained checkpoint)')
    if gpu and ('ours', 'infer_4cam', auto) in best:
        ms = best[('ours', 'infer_4cam', auto)]['median_ms']
        print(f'GPU target, 4-camera chunk under 3 ms: {ms:.2f} ms -> {"met" if ms < 3 else "NOT met"}')
    return 0



if __name__ == '__main__':
    sys.exit(main())
