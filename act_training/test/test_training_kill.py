"""`act train` SIGKILLed during validation resumes to the same result as an uninterrupted
run (the kill during a checkpoint write is test_training_checkpoint's). Real processes:
the CLI as users start it, killed while it validates; then `act train --resume`."""

import os
import signal
import subprocess
import sys
import threading
import time

import pytest
import torch
from safetensors.torch import load_file
from training_episodes import write_episodes

from act_training.train.checkpoint import load_training_state

# A tiny model and a large validation split, all of it validated (val_samples: all 1000
# held-out frames, not the default 256): validation takes most of the run's time, so the
# kill lands inside it (checked: its result line was not printed yet).
CONFIG = """\
model: {camera_names: [top], image_height: 32, image_width: 32, chunk_size: 8, dim_model: 32, n_heads: 4,
        dim_feedforward: 64, n_encoder_layers: 1, n_decoder_layers: 1, n_vae_encoder_layers: 1, latent_dim: 8,
        dropout: 0.1, kl_weight: 10.0, backbone_weights: none}
train: {steps: 8, batch_size: 4, lr: 1.0e-3, backbone_lr: 1.0e-3, warmup_steps: 2, val_fraction: 0.5,
        val_samples: 1000, val_every: 4, checkpoint_every: 2, log_every: 1, device: cpu, seed: 0, num_workers: 0,
        tensorboard: false}
"""
ACT = [sys.executable, '-m', 'act_tools.cli.main']


def _train(data, output, config, *extra):
    return [*ACT, 'train', '--data', str(data), '--output', str(output), '--config', str(config), *extra]


@pytest.mark.slow
@pytest.mark.timeout(400)
def test_act_train_killed_during_validation_resumes_to_the_uninterrupted_result(tmp_path):
    data = write_episodes(tmp_path / 'data', count=8, length=250, height=32, width=32)
    config = tmp_path / 'tiny.yaml'
    config.write_text(CONFIG)
    # TQDM_MININTERVAL=0: the bar is drawn at every update. With tqdm's default 0.1 s, the
    # fast tiny steps can leave '4/8' undrawn until the bar is redrawn with step 4's
    # validation line, and the kill would come after validation.
    env = {**os.environ, 'PYTHONUNBUFFERED': '1', 'OMP_NUM_THREADS': '1', 'TQDM_MININTERVAL': '0'}
    straight = subprocess.run(_train(data, tmp_path / 'straight', config), capture_output=True, text=True,
                              timeout=300, env=env)
    assert straight.returncode == 0, straight.stderr[-2000:]

    run = subprocess.Popen(_train(data, tmp_path / 'killed', config), stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, env=env)
    seen = bytearray()

    def read():
        while chunk := os.read(run.stdout.fileno(), 4096):
            seen.extend(chunk)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    deadline = time.monotonic() + 240
    # The progress bar reaches 4/8 after step 4's training; validation of step 4 follows.
    while b'| 4/8 ' not in seen and run.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert b'| 4/8 ' in seen, seen.decode(errors='replace')[-2000:]
    time.sleep(0.2)
    run.send_signal(signal.SIGKILL)
    run.wait(timeout=30)
    reader.join(timeout=5)
    text = seen.decode(errors='replace')
    assert 'step 4: validation L1' not in text, 'the kill came after validation: the test would prove nothing'
    # Step 4's checkpoint is written after its validation: the run restarts from step 2.
    assert load_training_state(tmp_path / 'killed' / 'last').step == 2
    resumed = subprocess.run([*ACT, 'train', '--data', str(data), '--output', str(tmp_path / 'killed'), '--resume'],
                             capture_output=True, text=True, timeout=300, env=env)
    assert resumed.returncode == 0, resumed.stderr[-2000:]

    a = load_file(str(tmp_path / 'straight' / 'last' / 'model.safetensors'))
    b = load_file(str(tmp_path / 'killed' / 'last' / 'model.safetensors'))
    assert a.keys() == b.keys() and all(torch.equal(a[name], b[name]) for name in a), \
        'resumed weights differ from the uninterrupted run'
    state_a = load_training_state(tmp_path / 'straight' / 'last')
    state_b = load_training_state(tmp_path / 'killed' / 'last')
    assert state_a.step == state_b.step == 8
    assert state_a.best_val_l1 == state_b.best_val_l1 and state_a.best_step == state_b.best_step
    a_best = load_file(str(tmp_path / 'straight' / 'best' / 'model.safetensors'))
    b_best = load_file(str(tmp_path / 'killed' / 'best' / 'model.safetensors'))
    assert all(torch.equal(a_best[name], b_best[name]) for name in a_best)
