"""What the CPU recipe adds for learning to see: the GroupNorm backbone option (from-scratch
training), the vision diagnostic (first-chunk error at t = 0 against mid-episode), and bf16
autocast in CPU training only where bf16 is native."""

import numpy as np
import pytest
import torch
from torch import nn
from torchvision.ops.misc import FrozenBatchNorm2d
from training_episodes import tiny_model_config, tiny_train_config, write_episodes

from act_training.config import ConfigError
from act_training.data.chunks import FrameIndex
from act_training.data.dataset import validation_probe_frames
from act_training.data.images import normalize_images
from act_training.model import build_model
from act_training.model.backbone import BackboneWeightsError, ResNet18Features, load_backbone_weights
from act_training.model.inference import ActInference
from act_training.model.runner import CpuRunner
from act_training.train import trainer


def test_group_norm_backbone_has_16_channels_per_group_and_trains_its_affine_parameters():
    backbone = ResNet18Features('group_norm')
    norms = [m for m in backbone.modules() if isinstance(m, nn.GroupNorm)]
    assert len(norms) == 20  # stem + 8 blocks x 2 + 3 downsample shortcuts
    assert not any(isinstance(m, FrozenBatchNorm2d) for m in backbone.modules())
    assert all(m.num_channels // m.num_groups == 16 for m in norms)
    out = backbone(torch.randn(2, 3, 64, 96))
    assert out.shape == (2, 512, 2, 3)
    out.square().mean().backward()
    assert all(m.weight.grad is not None and m.weight.grad.abs().sum() > 0 for m in norms)


def test_the_inference_path_computes_the_group_norm_model():
    torch.manual_seed(5)
    config = tiny_model_config(camera_names=('top',), state_dim=5, action_dim=3, image_height=64, image_width=96,
                               backbone_norm='group_norm')
    model = build_model(config).eval()
    for module in model.backbone.modules():
        if isinstance(module, nn.GroupNorm):  # non-trivial affine, so a skipped norm would show
            module.weight.data.uniform_(0.5, 1.5)
            module.bias.data.uniform_(-0.2, 0.2)
    frames = torch.randint(0, 256, (1, 1, 64, 96, 3), dtype=torch.uint8)
    qpos = torch.randn(1, 5)
    with torch.no_grad():
        reference = model(normalize_images(frames.permute(0, 1, 4, 2, 3)), qpos).actions[0]  # (S, Da)
    fast = CpuRunner(ActInference(model), torch.float32)([frames[0, 0].numpy()], qpos[0].numpy())
    np.testing.assert_allclose(fast, reference.numpy(), atol=1e-4, rtol=1e-4)


def test_pretrained_weights_with_group_norm_and_unknown_norms_are_refused():
    with pytest.raises(BackboneWeightsError, match='backbone_norm=group_norm'):
        load_backbone_weights(ResNet18Features('group_norm'), 'imagenet')
    with pytest.raises(ConfigError, match='backbone_norm'):
        tiny_model_config(backbone_norm='batchnorm')


def test_probe_frames_are_each_held_out_episodes_first_step_and_its_quarter_and_half():
    index = FrameIndex([400, 10, 8])
    probe = validation_probe_frames(index, [1, 2])
    assert probe['t0'].tolist() == [400, 410]
    assert probe['mid'].tolist() == [400 + 2, 410 + 2, 400 + 5, 410 + 4]
    assert validation_probe_frames(index, [])['t0'].size == 0


def test_training_reports_the_t0_and_mid_episode_errors_of_its_final_weights(tmp_path):
    data = write_episodes(tmp_path / 'data', count=4, length=16, height=32, width=32)
    config = tiny_model_config(image_height=32, image_width=32, backbone_norm='group_norm')
    result = trainer.train(config, tiny_train_config(steps=4, val_every=4, checkpoint_every=4, val_fraction=0.5),
                           data, tmp_path / 'run', progress=None)
    # Two validation episodes (val_fraction 0.5 of 4): the spread of their t = 0 chunks too.
    assert set(result.final_probe_l1) == {'t0', 'mid', 't0_spread'}
    assert all(np.isfinite(v) and v > 0 for v in result.final_probe_l1.values())
    # The same figure from the saved weights, computed by hand on the first frames.
    from act_training.data.dataset import prepare_training_data
    from act_training.train.checkpoint import load_checkpoint
    saved = load_checkpoint(result.last_checkpoint)
    assert saved.metrics['val_l1_t0'] == pytest.approx(result.final_probe_l1['t0'])
    assert saved.metrics['val_t0_spread'] == pytest.approx(result.final_probe_l1['t0_spread'])
    data_ = prepare_training_data(data, config, saved.train_config, device=torch.device('cpu'),
                                  resume_info=saved.dataset, resume_normalization=saved.normalization)
    model = build_model(saved.model_config)
    model.load_state_dict(saved.state_dict)
    model.eval()
    batch = data_.source.batch(data_.probe_frames['t0'])
    with torch.no_grad():
        predicted = model(normalize_images(batch.images), batch.qpos).actions
    keep = ~batch.is_pad
    expected = float((predicted - batch.actions).abs()[keep].mean())
    assert result.final_probe_l1['t0'] == pytest.approx(expected, rel=0.05)  # bf16 autocast where native
    rows = keep.all(dim=0)  # (S,) rows no episode pads
    spread = float(predicted[:, rows].std(dim=0).mean() / batch.actions[:, rows].std(dim=0).mean())
    assert result.final_probe_l1['t0_spread'] == pytest.approx(spread, rel=0.1)


def test_chunk_spread_ratio_is_zero_for_one_chunk_whatever_the_episode_and_one_for_the_demonstrations():
    demonstrated = torch.tensor([[[0.0, 1.0]], [[2.0, 5.0]], [[4.0, 0.0]]])  # (E=3, S=1, Da=2)
    blind = demonstrated.mean(dim=0, keepdim=True).expand_as(demonstrated)
    assert trainer.chunk_spread_ratio(blind, demonstrated) == 0.0
    assert trainer.chunk_spread_ratio(demonstrated, demonstrated) == pytest.approx(1.0)
    # Half way to the mean chunk: half the spread.
    halfway = blind + 0.5 * (demonstrated - blind)
    assert trainer.chunk_spread_ratio(halfway, demonstrated) == pytest.approx(0.5)
    assert np.isnan(trainer.chunk_spread_ratio(demonstrated, blind))  # demonstrations all alike
    with pytest.raises(ValueError, match='E >= 2'):
        trainer.chunk_spread_ratio(demonstrated[:1], demonstrated[:1])
    with pytest.raises(ValueError, match='one shape'):
        trainer.chunk_spread_ratio(demonstrated, demonstrated[:, :, :1])


@pytest.mark.parametrize('native', [True, False])
def test_cpu_training_uses_bf16_autocast_only_where_bf16_is_native(tmp_path, monkeypatch, native):
    from act_training.train import step_time
    monkeypatch.setattr(step_time, 'native_bf16', lambda device: native)
    seen = []
    real_forward_loss = trainer.forward_loss

    def spy(model, batch, config, autocast, *rest):  # rest: the trainer's further options (qpos_noise_std)
        with autocast():
            seen.append(torch.is_autocast_enabled('cpu'))
        return real_forward_loss(model, batch, config, autocast, *rest)

    monkeypatch.setattr(trainer, 'forward_loss', spy)
    data = write_episodes(tmp_path / 'data', count=2, length=8, height=32, width=32)
    trainer.train(tiny_model_config(image_height=32, image_width=32), tiny_train_config(steps=2, val_fraction=0.0),
                  data, tmp_path / 'run', progress=None)
    assert seen == [native, native]


@pytest.mark.parametrize('overrides', [{'keypoints': 8}, {'backbone_dilation': True},
                                       {'keypoints': 4, 'backbone_dilation': True, 'backbone_norm': 'group_norm'}])
def test_keypoint_tokens_and_the_dilated_stage_in_the_model_and_the_inference_path(overrides):
    torch.manual_seed(6)
    config = tiny_model_config(camera_names=('top', 'wrist'), state_dim=5, action_dim=3, image_height=64, image_width=96,
                               **overrides)
    model = build_model(config).eval()
    h, w = (4, 6) if config.backbone_dilation else (2, 3)  # stride 16 instead of 32
    assert model.encoder_positions().shape == (2 + 2 * (h * w + config.keypoints), config.dim_model)
    frames = torch.randint(0, 256, (1, 2, 64, 96, 3), dtype=torch.uint8)
    qpos = torch.randn(1, 5)
    with torch.no_grad():
        reference = model(normalize_images(frames.permute(0, 1, 4, 2, 3)), qpos).actions[0]  # (S, Da)
    fast = CpuRunner(ActInference(model), torch.float32)([f.numpy() for f in frames[0]], qpos[0].numpy())
    np.testing.assert_allclose(fast, reference.numpy(), atol=1e-4, rtol=1e-4)


def test_spatial_softmax_finds_the_bright_spot():
    from act_training.model.act import SpatialSoftmax
    layer = SpatialSoftmax(1, 1, 5, 9)
    with torch.no_grad():
        layer.attention.weight.fill_(50.0)
        layer.attention.bias.zero_()
    features = torch.zeros(1, 1, 5, 9)
    features[0, 0, 4, 0] = 1.0  # bottom-left corner
    assert torch.allclose(layer(features)[0, 0], torch.tensor([-1.0, 1.0]), atol=1e-3)


def test_steps_within_budget_counts_steps_validations_checkpoints_and_the_final_ones():
    from act_training.train.step_time import LoopCosts, steps_within_budget

    # 600 s, 100 s gone at step 100: 500 s less the final validation (5) and checkpoint (2),
    # at 0.3 s per step plus 5 s every 400 and 2 s every 400 (0.3175 s): 1552 more steps.
    costs = LoopCosts(step_s=0.3, validation_s=5.0, checkpoint_s=2.0)
    assert steps_within_budget(600.0, 100.0, 100, costs, max_steps=5000, val_every=400, checkpoint_every=400) == 1652
    assert steps_within_budget(600.0, 100.0, 100, costs, 1500, 400, 400) == 1500  # the upper bound
    # Without validation only the checkpoints come on top: 498 / 0.305 = 1632 more.
    assert steps_within_budget(600.0, 100.0, 100, costs, 5000, 0, 400) == 1732
    # Nothing left: one more step, so that the run ends with its final checkpoint.
    assert steps_within_budget(600.0, 700.0, 100, costs, 5000, 400, 400) == 101
    with pytest.raises(ValueError):
        steps_within_budget(600.0, 0.0, 0, LoopCosts(0.0, 0.0, 0.0), 10, 0, 10)


class InputRecorder(nn.Module):
    """A stand-in model that keeps the (images, qpos) forward_loss gives it."""

    def __init__(self, seen: list):
        super().__init__()
        self.seen = seen

    def forward(self, images, qpos, actions=None, is_pad=None):
        from act_training.model.act import ActOutput
        self.seen.append((images.clone(), qpos.clone()))
        return ActOutput(actions=torch.zeros_like(actions, requires_grad=True), mu=None, logvar=None)


def test_qpos_noise_reaches_the_model_in_training_only_and_in_joint_std_units():
    from act_training.data.chunks import Batch
    seen = []
    config = tiny_model_config(use_vae=False)
    batch = Batch(torch.zeros(4096, 1, 3, 8, 8, dtype=torch.uint8), torch.ones(4096, 3), torch.zeros(4096, 2, 3),
                  torch.zeros(4096, 2, dtype=torch.bool))
    import contextlib
    trainer.forward_loss(InputRecorder(seen), batch, config, contextlib.nullcontext)
    trainer.forward_loss(InputRecorder(seen), batch, config, contextlib.nullcontext, qpos_noise_std=0.3)
    assert torch.equal(seen[0][1], batch.qpos)
    noise = seen[1][1] - batch.qpos
    assert abs(float(noise.std()) - 0.3) < 0.01 and abs(float(noise.mean())) < 0.01
    with pytest.raises(ConfigError, match='qpos_noise_std'):
        tiny_train_config(qpos_noise_std=-0.1)


def test_random_shift_moves_each_sample_by_whole_pixels_with_replicated_edges():
    from act_training.data.images import random_shift
    torch.manual_seed(0)
    images = torch.randint(0, 256, (16, 2, 3, 12, 10), dtype=torch.uint8)  # (B, N_cam, 3, H, W)
    assert random_shift(images, 0) is images
    shifted = random_shift(images, 3)
    assert shifted.shape == images.shape and shifted.dtype == torch.uint8
    padded = torch.nn.functional.pad(images.reshape(16, 6, 12, 10).float(), (3, 3, 3, 3), mode='replicate')
    offsets = set()
    for b in range(16):
        # Exactly one offset in [-3, 3]^2 reproduces the sample, for both cameras at once.
        matches = [(dy, dx) for dy in range(7) for dx in range(7)
                   if torch.equal(padded[b, :, dy:dy + 12, dx:dx + 10].to(torch.uint8), shifted[b].reshape(6, 12, 10))]
        assert len(matches) >= 1
        offsets.add(matches[0])
    assert len(offsets) > 4  # the samples of a batch move differently
    torch.manual_seed(0)
    again = random_shift(images, 3)
    torch.manual_seed(0)
    assert torch.equal(random_shift(images, 3), again)  # the step's seed decides
    with pytest.raises(ValueError, match='N_cam'):
        random_shift(images[0], 2)


def test_image_shift_reaches_the_model_in_training_only():
    from act_training.data.chunks import Batch
    seen = []
    import contextlib
    config = tiny_model_config(use_vae=False)
    frames = torch.randint(0, 256, (8, 1, 3, 16, 16), dtype=torch.uint8)
    batch = Batch(frames, torch.ones(8, 3), torch.zeros(8, 2, 3), torch.zeros(8, 2, dtype=torch.bool))
    trainer.forward_loss(InputRecorder(seen), batch, config, contextlib.nullcontext)
    trainer.forward_loss(InputRecorder(seen), batch, config, contextlib.nullcontext, image_shift=4)
    assert torch.equal(seen[0][0], normalize_images(frames))
    assert not torch.equal(seen[1][0], seen[0][0])
    assert tiny_train_config(image_shift=4).image_shift == 4
    with pytest.raises(ConfigError, match='image_shift'):
        tiny_train_config(image_shift=-1)


def test_early_steps_are_listed_weight_times():
    from act_training.data.dataset import oversample_early_steps
    index = FrameIndex([5, 4])
    frames = oversample_early_steps(index, [0, 1], early_steps=2, weight=3)
    assert sorted(frames.tolist()) == sorted([0, 1, 2, 3, 4, 5, 6, 7, 8] + [0, 1, 5, 6] * 2)
    assert oversample_early_steps(index, [1], early_steps=0, weight=3).tolist() == [5, 6, 7, 8]
    with pytest.raises(ConfigError, match='early_steps_weight'):
        tiny_train_config(early_steps_weight=0)


def test_blind_warning_only_below_the_measured_spread_of_a_policy_that_looks():
    assert 'does not use its cameras' in trainer.blind_warning({'t0': 0.2, 't0_spread': 0.0})
    assert trainer.blind_warning({'t0': 0.2, 't0_spread': trainer.BLIND_T0_SPREAD}) is None
    assert trainer.blind_warning({'t0': 0.2, 't0_spread': 0.45}) is None
    # No spread measured (one validation episode, or demonstrations all alike): no claim.
    assert trainer.blind_warning({'t0': 0.2}) is None
    assert trainer.blind_warning({'t0_spread': float('nan')}) is None


def test_qpos_dropout_replaces_whole_samples_qpos_by_the_mean_at_its_rate():
    from act_training.data.chunks import Batch
    import contextlib
    seen = []
    config = tiny_model_config(use_vae=False)
    qpos = torch.randn(4096, 3) + 2.0  # normalized qpos, none of it 0
    batch = Batch(torch.zeros(4096, 1, 3, 8, 8, dtype=torch.uint8), qpos, torch.zeros(4096, 2, 3),
                  torch.zeros(4096, 2, dtype=torch.bool))
    torch.manual_seed(0)
    trainer.forward_loss(InputRecorder(seen), batch, config, contextlib.nullcontext, qpos_dropout=0.25)
    given = seen[0][1]
    dropped = (given == 0).all(dim=1)  # (B,) whole rows, never single joints
    kept = (given == qpos).all(dim=1)
    assert bool((dropped | kept).all())
    assert abs(float(dropped.float().mean()) - 0.25) < 0.03
    trainer.forward_loss(InputRecorder(seen), batch, config, contextlib.nullcontext)
    assert torch.equal(seen[1][1], qpos)  # off by default
    assert tiny_train_config(qpos_dropout=0.5).qpos_dropout == 0.5
    for bad in (-0.1, 1.0):
        with pytest.raises(ConfigError, match='qpos_dropout'):
            tiny_train_config(qpos_dropout=bad)
