"""Multi-process training with torch.distributed (DDP), as `torchrun` launches it: here 2
CPU processes on the gloo backend. Each rank computes its half of every global batch;
the averaged gradients must equal one process's gradients on the whole batch, and a full
run must train and leave one checkpoint set, written by rank 0."""

import contextlib
import os
import subprocess
import sys
import textwrap

import pytest
import torch
from safetensors.torch import load_file
from training_episodes import tiny_model_config, tiny_train_config, write_episodes

from act_training.data.chunks import StepSampler
from act_training.data.dataset import prepare_training_data
from act_training.model import build_model
from act_training.train import train
from act_training.train.batch_loss import forward_loss

# DDP: one training process per rank.
pytestmark = pytest.mark.slow

# Deterministic forward (no dropout, no sampled z): any gradient difference between the
# runs then comes from how the ranks' gradients are combined, which is what is tested.
MODEL = dict(image_height=32, image_width=32, use_vae=False, dropout=0.0)
# fp32: the test pins the gradient reduction, and bf16 autocast (on CPUs with native bf16)
# rounds each rank's half-batch differently from the whole batch.
TRAIN = dict(steps=4, batch_size=8, val_every=2, checkpoint_every=2, log_every=1, backbone_lr=1e-3, bf16=False)

WORKER = textwrap.dedent('''
    import contextlib, os, sys
    import torch
    from safetensors.torch import save_file
    sys.path.insert(0, {test_dir!r})
    from training_episodes import tiny_model_config, tiny_train_config
    from act_training.data.chunks import StepSampler
    from act_training.data.dataset import prepare_training_data
    from act_training.model import build_model
    from act_training.train import train
    from act_training.train.distributed import setup_distributed
    from act_training.train.batch_loss import forward_loss

    model_config, train_config = tiny_model_config(**{model!r}), tiny_train_config(**{train!r})
    context = setup_distributed('cpu')
    data = prepare_training_data({data!r}, model_config, train_config, device=torch.device('cpu'),
                                 world_size=context.world_size)
    torch.manual_seed(0)
    ddp = torch.nn.parallel.DistributedDataParallel(build_model(data.model_config), broadcast_buffers=False)
    sampler = StepSampler(data.train_frames, train_config.batch_size, train_config.seed)
    _, batch = next(data.source.iterate(sampler, range(1), context.rank, context.world_size))
    assert len(batch) == train_config.batch_size // 2
    forward_loss(ddp, batch, data.model_config, contextlib.nullcontext).loss.backward()
    if context.rank == 0:
        save_file({{name: p.grad.contiguous() for name, p in ddp.module.named_parameters()}}, {grads!r})

    result = train(model_config, train_config, {data!r}, {output!r}, progress=None)
    with open({report!r} + os.environ['RANK'], 'w') as report:
        report.write(f"world {{os.environ['WORLD_SIZE']}} steps {{result.steps}}")
''')


def test_ddp_two_processes_match_one_process(tmp_path):
    data = write_episodes(tmp_path / 'data', count=3, length=12, height=32, width=32)
    script = tmp_path / 'worker.py'
    script.write_text(WORKER.format(test_dir=os.path.dirname(__file__), model=MODEL, train=TRAIN, data=str(data),
                                    output=str(tmp_path / 'ddp'), report=str(tmp_path / 'rank'),
                                    grads=str(tmp_path / 'ddp_grads.safetensors')))
    env = dict(os.environ, OMP_NUM_THREADS='1', GLOO_SOCKET_IFNAME='lo')
    result = subprocess.run([sys.executable, '-m', 'torch.distributed.run', '--standalone', '--nproc_per_node', '2',
                             str(script)], capture_output=True, text=True, timeout=300, env=env)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    for rank in (0, 1):
        assert (tmp_path / f'rank{rank}').read_text() == 'world 2 steps 4'

    # The same first global batch in one process.
    model_config, train_config = tiny_model_config(**MODEL), tiny_train_config(**TRAIN)
    prepared = prepare_training_data(data, model_config, train_config, device=torch.device('cpu'))
    torch.manual_seed(0)
    model = build_model(prepared.model_config)
    model.use_channels_last()  # as the trainer runs it
    sampler = StepSampler(prepared.train_frames, train_config.batch_size, train_config.seed)
    _, batch = next(prepared.source.iterate(sampler, range(1), 0, 1))
    forward_loss(model, batch, prepared.model_config, contextlib.nullcontext).loss.backward()
    ddp_grads = load_file(str(tmp_path / 'ddp_grads.safetensors'))
    assert ddp_grads['backbone.conv1.weight'].abs().max() > 0 and ddp_grads['action_head.weight'].abs().max() > 0
    for name, parameter in model.named_parameters():
        expected = parameter.grad
        scale = expected.abs().max().item()
        # Float noise only: the ranks' halves are summed in another order (measured up to
        # 1.4e-6 of the largest entry). A wrong reduction would be off by about the gradient.
        assert torch.allclose(ddp_grads[name], expected, rtol=1e-4, atol=1e-5 * max(scale, 1e-3)), (
            name, float((ddp_grads[name] - expected).abs().max()) / max(scale, 1e-30), scale)

    # One checkpoint set, written by rank 0 alone; weights moved like the 1-process run's.
    assert sorted(p.name for p in (tmp_path / 'ddp').iterdir()) == ['best', 'last']
    single = train(model_config, train_config, data, tmp_path / 'single', progress=None)
    single_weights = load_file(str(single.last_checkpoint / 'model.safetensors'))
    ddp_weights = load_file(str(tmp_path / 'ddp' / 'last' / 'model.safetensors'))
    for name, value in single_weights.items():
        # Adam divides by sqrt(v): where the true gradient is ~0 (e.g. key biases, which
        # softmax ignores) it turns float noise into steps of up to lr, so weights agree to
        # lr * steps there and to float noise elsewhere.
        assert torch.allclose(ddp_weights[name], value, atol=train_config.lr * train_config.steps), name
    assert not torch.equal(ddp_weights['action_head.weight'], model.state_dict()['action_head.weight'])
