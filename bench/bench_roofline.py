#!/usr/bin/env python3
"""How close ACT runs to what this CPU can do: the achievable FMA rate, measured, and each
stage of the network against it.

    .venv/bin/python bench/bench_roofline.py                 # this machine, all threads
    .venv/bin/python bench/bench_roofline.py --quick         # a rehearsal: fewer repeats

1. The achievable rate ("measured peak"): the best GFLOP/s of a dense fp32 matmul (square,
   1024 and 2048 through torch.mm, which is MKL's sgemm; 2048 also through oneDNN as a
   matmul and as a 1x1 convolution, the kernels PackedLinear runs; the best of all three
   counts, on every CPU) and of 3x3 convolutions of ResNet-18's own shapes (channels_last,
   batch 1 at 480x640 input and batch 8 at 120x160 input), in fp32 and, where the CPU
   computes bf16 natively, in bf16. Next to it the theoretical FMA peak from the CPU's
   flags and clock (act_common.cpu_features). Results taken before the oneDNN kernels were
   added (bench/results/ before b1ed7e9) count torch.mm only.
2. Per stage (backbone, encoder, decoder, rest: projections and head), FLOPs
   (torch.utils.flop_counter plus oneDNN's linear and convolution operators, per module),
   time and the fraction of the measured peak of that stage's kind (convolution for the
   backbone, matmul for the rest), for:
   - inference as the policy runs it on the CPU (ActInference under runner.CpuRunner: linear
     and convolution weights packed for oneDNN, the backbone's ReLUs and residual adds fused,
     its large 3x3 convolutions as Winograd F(4x4, 3x3) products where winograd.conv_kernel
     picks them, whose FLOPs are counted as the direct convolution's; uint8 frames in), fp32,
     at the paper config
     (480x640, chunk 100, dim 512, 1 and 4 cameras) and at the demo config (cpu_demo.yaml);
   - a training step of the demo config (forward and backward per stage, fp32, and bf16
     autocast where native; the optimizer step is the "optimizer" row).
   Stage times come from forward hooks on each stage's modules (inference) and from
   re-running each stage alone on its captured inputs, forward then forward+backward
   (training); the decoder's inference time is the total less the others (its layers are
   called through methods, not modules).
3. Memory: the achievable read bandwidth (a sum over 256 MiB), the fp32 parameters of each
   inference stage (read once per chunk at most: the decoder's first self-attention is
   precomputed) and the time to stream them at that rate, and, for the encoder's linear
   layers, their time inside the chunk against the same calls repeated on a weight already
   in the caches (L2, or L3 for the 6.5 MB feed-forward weights). At batch 1 each weight is
   read once per chunk: a kernel that runs at the matmul peak with its weight in the caches
   loses that rate when the weight comes from memory, and the difference is the price of
   streaming, in milliseconds.

The CPU model and flags are printed first: every figure depends on them.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path

import torch
from torch.utils._pytree import tree_map_only
from torch.utils.flop_counter import FlopCounterMode

ROOT = Path(__file__).resolve().parents[1]
try:
    import act_training  # noqa: F401  (installed by colcon)
except ImportError:
    sys.path.insert(0, str(ROOT / 'act_training'))
    sys.path.insert(0, str(ROOT / 'act_common'))

from act_common.cpu_features import cpu_features  # noqa: E402
from act_training.config import ModelConfig, load_training_configs  # noqa: E402
from act_training.model import build_model  # noqa: E402
from act_training.model.inference import ActInference  # noqa: E402
from act_training.model.backbone import PackedBackbone  # noqa: E402
from act_training.model.onednn import PackedLinear, flop_counter, onednn_available, onednn_conv_available  # noqa: E402
from act_training.model.runner import CpuRunner, native_bf16  # noqa: E402
from act_training.model.winograd import WinogradConv2d  # noqa: E402
from act_training.train.step_time import SyntheticStep, measure_step_seconds  # noqa: E402

DEMO_CONFIG = ROOT / 'act_training' / 'config' / 'training' / 'cpu_demo.yaml'


def median_seconds(call, repeats: int, warmup: int = 1) -> float:
    """Median wall seconds of `repeats` calls after `warmup` (the trainer's step timer)."""
    return measure_step_seconds(call, repeats, warmup)


# --- 1. the achievable rate ----------------------------------------------------------------

@dataclass
class Peak:
    """Measured GFLOP/s of the best kernel of each kind, per dtype."""

    matmul: dict[str, float]
    conv: dict[str, float]
    theoretical: dict[str, float]

    def of(self, kind: str, dtype: str) -> float:
        return (self.conv if kind == 'conv' else self.matmul)[dtype]


def measure_peak(dtypes: list[str], repeats: int) -> tuple[Peak, list[str]]:
    lines = []
    matmul, conv = {}, {}
    torch_dtype = {'fp32': torch.float32, 'bf16': torch.bfloat16}
    for name in dtypes:
        dtype = torch_dtype[name]
        best = 0.0
        for n in (1024, 2048):
            a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
            seconds = median_seconds(lambda: torch.mm(a, b), repeats)
            rate = 2 * n ** 3 / seconds / 1e9
            lines.append(f'  matmul {n}x{n}x{n} {name}: {seconds * 1e3:7.2f} ms  {rate:6.1f} GFLOP/s')
            best = max(best, rate)
        if name == 'fp32' and onednn_available() and onednn_conv_available():
            # torch.mm is MKL's sgemm; the model's linear layers run through oneDNN, as a matmul
            # or, on AVX2-only CPUs, as a 1x1 convolution (onednn.linear_kernel). A product is
            # as fast as the best kernel that computes it, so all three count for the peak,
            # on every CPU, whichever the model picks there.
            n = 2048
            x, linear = torch.randn(n, n), torch.nn.Linear(n, n, bias=False)
            for kernel in ('matmul', 'conv1x1'):
                layer = PackedLinear(linear, rows_hint=n, kernel=kernel)
                with torch.inference_mode():
                    seconds = median_seconds(lambda: layer(x), repeats)
                rate = 2 * n ** 3 / seconds / 1e9
                lines.append(f'  matmul {n}x{n}x{n} {name} (oneDNN {kernel}): {seconds * 1e3:7.2f} ms  '
                             f'{rate:6.1f} GFLOP/s')
                best = max(best, rate)
        matmul[name] = best
        best = 0.0
        # ResNet-18's 3x3 convolutions: layer1 and layer3 shapes at a 480x640 input (batch 1)
        # and at the demo's 120x160 input (batch 8).
        for batch, channels, height, width in ((1, 64, 120, 160), (1, 256, 30, 40), (8, 64, 30, 40), (8, 256, 8, 10)):
            x = torch.randn(batch, channels, height, width, dtype=dtype).contiguous(memory_format=torch.channels_last)
            layer = torch.nn.Conv2d(channels, channels, 3, padding=1, bias=False).to(dtype)
            layer = layer.to(memory_format=torch.channels_last)
            with torch.no_grad():
                seconds = median_seconds(lambda: layer(x), repeats)
            rate = 2 * batch * channels * channels * 9 * height * width / seconds / 1e9
            lines.append(f'  conv3x3 {batch}x{channels}x{height}x{width} {name}: {seconds * 1e3:7.2f} ms  '
                         f'{rate:6.1f} GFLOP/s')
            best = max(best, rate)
        conv[name] = best
    threads = torch.get_num_threads()
    cpu = cpu_features()
    return Peak(matmul, conv, {name: cpu.peak_gflops(name, threads) for name in dtypes}), lines


# The read-bandwidth probe's size: far larger than any cache of this project's CPUs.
BANDWIDTH_PROBE_MIB = 256


def measure_read_bandwidth(repeats: int, mebibytes: int = BANDWIDTH_PROBE_MIB) -> float:
    """Achievable read bandwidth in GB/s: a sum over an fp32 tensor far larger than the caches
    (its arithmetic is one add per 4 bytes, well under the FMA rate)."""
    x = torch.ones(mebibytes * 2 ** 20 // 4)
    seconds = median_seconds(lambda: x.sum(), repeats)
    return x.numel() * 4 / seconds / 1e9


# --- 2. stages ------------------------------------------------------------------------------

STAGE_KIND = {'backbone': 'conv', 'encoder': 'matmul', 'decoder': 'matmul', 'cvae encoder': 'matmul',
              'rest': 'matmul', 'optimizer': 'matmul'}
# ActInference's attributes per stage; the decoder is what the total leaves (its layers run
# through methods, so part of their arithmetic is counted at the top level).
INFERENCE_STAGES = {'backbone': ('backbone',), 'encoder': ('encoder_layers', 'encoder_norm'),
                    'rest': ('input_proj', 'state_proj', 'action_head', 'keypoints', 'keypoint_proj')}


def inference_flops(counter: FlopCounterMode) -> dict[str, float]:
    """FLOPs per stage of one ActInference call, from FlopCounterMode's per-module counts.
    A module's count includes its children's: only the outermost counted module under each
    attribute is summed."""
    counts = {name: float(sum(ops.values())) for name, ops in counter.get_flop_counts().items()
              if name.startswith('ActInference.')}
    outermost = [name for name in counts
                 if not any(name.startswith(other + '.') for other in counts if other != name)]
    flops = {}
    for stage, attributes in INFERENCE_STAGES.items():
        flops[stage] = sum(counts[name] for name in outermost if name.split('.')[1] in attributes)
    flops['decoder'] = float(counter.get_total_flops()) - sum(flops.values())
    return flops


class StageTimer:
    """Forward pre/post hooks on modules that sum wall time per stage."""

    def __init__(self, modules: dict[str, list[torch.nn.Module]]):
        self.seconds = {stage: 0.0 for stage in modules}
        self._handles = []
        for stage, items in modules.items():
            for module in items:
                self._handles.append(module.register_forward_pre_hook(self._start))
                self._handles.append(module.register_forward_hook(self._stop(stage)))
        self._started = 0.0

    def _start(self, module, args):
        self._started = time.perf_counter()

    def _stop(self, stage):
        def hook(module, args, output):
            self.seconds[stage] += time.perf_counter() - self._started
        return hook

    def reset(self):
        self.seconds = dict.fromkeys(self.seconds, 0.0)

    def close(self):
        for handle in self._handles:
            handle.remove()


def stage_weight_bytes(policy: ActInference) -> dict[str, int]:
    """Bytes of each inference stage's weights, each read at most once per chunk (the
    decoder: the rest of the model): the parameters, with each WinogradConv2d's filter
    counted as its transformed weight (4x the bytes, the one its chunk reads). Other packed
    weights are copies of the parameters in oneDNN's layout, the same size in fp32."""
    def size(modules) -> int:
        unique = {id(p): p for module in modules for p in module.parameters()}
        winograd = {id(m.weight): m.packed_bytes for module in modules for m in module.modules()
                    if isinstance(m, WinogradConv2d)}
        return sum(winograd.get(id(p), p.numel() * p.element_size()) for p in unique.values())

    per_stage = {stage: size([getattr(policy, name) for name in names if getattr(policy, name, None) is not None])
                 for stage, names in INFERENCE_STAGES.items()}
    per_stage['decoder'] = size([policy]) - sum(per_stage.values())
    return per_stage


def encoder_linears_in_chunk_and_warm(policy, frames, qpos, repeats: int) -> tuple[float, float, int]:
    """(seconds of the encoder's linear layers inside one chunk, seconds of the same calls each
    repeated on its weight already in the caches, their weight bytes). Each layer's forward,
    and a PackedLinear's forward_relu (the feed-forward's first layer with its ReLU fused),
    are wrapped for the timing; an unpacked layer's forward_relu calls its forward, timed once."""
    linears = [m for layer in policy.encoder_layers for m in layer.modules()
               if isinstance(m, (torch.nn.Linear, PackedLinear))]
    inputs, spent = {}, [0.0]

    def timed(method, key):
        def call(x):
            if key not in inputs:
                inputs[key] = (method, x.clone())
            start = time.perf_counter()
            out = method(x)
            spent[0] += time.perf_counter() - start
            return out
        return call

    wrapped = [(m, name) for m in linears for name in ('forward', 'forward_relu')
               if name == 'forward' or isinstance(m, PackedLinear)]
    for m, name in wrapped:
        setattr(m, name, timed(getattr(m, name), (id(m), name)))  # an instance attribute shadows the method
    per_run = []
    try:
        for _ in range(repeats + 1):  # the first run captures the inputs
            spent[0] = 0.0
            policy(frames, qpos)
            per_run.append(spent[0])
    finally:
        for m, name in wrapped:
            delattr(m, name)
    warm = sum(median_seconds(lambda method=method, x=x: method(x), repeats, warmup=2) for method, x in inputs.values())
    weight_bytes = sum(m.weight.numel() * m.weight.element_size() for m in linears)
    return statistics.median(per_run[1:]), warm, weight_bytes


def cpu_inference_engine(config: ModelConfig) -> tuple[ActInference, torch.Tensor, torch.Tensor]:
    """A random-init fp32 policy of `config` as ActPolicy runs it on the CPU (under
    runner.CpuRunner: weights packed for oneDNN), with one observation for it: uint8 frames
    (1, N_cam, H, W, 3) and qpos (1, 14)."""
    model = build_model(replace(config, backbone_weights='none', state_dim=14, action_dim=14))
    policy = CpuRunner(ActInference(model), torch.float32).engine
    frames = torch.randint(0, 256, (1, len(config.camera_names), config.image_height, config.image_width, 3),
                           dtype=torch.uint8)
    return policy, frames, torch.randn(1, 14)


def inference_stages(config: ModelConfig, repeats: int):
    """(seconds per stage, FLOPs per stage, total seconds, weight bytes per stage, encoder
    linears (in chunk s, warm s, weight bytes), the backbone's Winograd convolutions) of one
    fp32 chunk prediction. FLOPs are the network's: the backbone's as direct convolutions
    compute it, also where some run as Winograd products (fewer multiply-adds)."""
    policy, frames, qpos = cpu_inference_engine(config)
    packed = policy.backbone if isinstance(policy.backbone, PackedBackbone) else None
    with torch.inference_mode():
        counter = flop_counter()
        if packed:  # count the network's arithmetic, as direct convolutions do it (see print_inference)
            packed.set_winograd(False)
        try:
            with counter:
                policy(frames, qpos)
        finally:
            if packed:
                packed.set_winograd(True)
        flops = inference_flops(counter)
        total = median_seconds(lambda: policy(frames, qpos), repeats, warmup=2)
        timer = StageTimer({'backbone': [policy.backbone], 'encoder': list(policy.encoder_layers),
                            'rest': [policy.input_proj, policy.state_proj, policy.action_head]})
        per_run = []
        for _ in range(repeats):
            timer.reset()
            policy(frames, qpos)
            per_run.append(dict(timer.seconds))
        timer.close()
        linears = encoder_linears_in_chunk_and_warm(policy, frames, qpos, repeats)
    seconds = {stage: statistics.median(run[stage] for run in per_run) for stage in ('backbone', 'encoder', 'rest')}
    seconds['decoder'] = max(0.0, total - sum(seconds.values()))
    winograd_count = packed.winograd_count if packed else 0
    return seconds, flops, total, stage_weight_bytes(policy), linears, winograd_count


def training_stages(config: ModelConfig, train, bf16: bool, repeats: int):
    """Per stage: (forward s, backward s, forward FLOPs, backward FLOPs); plus the optimizer
    step's seconds and the whole step's median seconds."""
    step = SyntheticStep(config, train, bf16=bf16)
    model = step.model
    stages = {'backbone': model.backbone, 'encoder': model.encoder, 'decoder': model.decoder}
    if model.config.use_vae:
        stages['cvae encoder'] = model.vae_encoder
    captured: dict[str, tuple] = {}
    handles = [module.register_forward_pre_hook(
        lambda module, args, kwargs, stage=stage: captured.setdefault(stage, (args, kwargs)), with_kwargs=True)
        for stage, module in stages.items()]
    step()  # warm-up, and each stage's inputs captured
    for handle in handles:
        handle.remove()

    total = median_seconds(step, repeats, warmup=1)
    # The optimizer step alone, on the gradients the last step left.
    optimizer_s = median_seconds(step.optimizer.step, repeats, warmup=0)

    results = {}
    for stage, module in stages.items():
        # Leaves cut from the step's graph (positions come as lists of tensors). The backbone's
        # input (images) needs no gradient in training; every other stage's inputs do.
        def leaf(a, grad=stage != 'backbone'):
            return a.detach().requires_grad_(grad and a.is_floating_point())
        inputs, kwargs = tree_map_only(torch.Tensor, leaf, captured[stage])

        def forward():
            with step.autocast():
                return module(*inputs, **kwargs)

        def forward_backward():
            out = forward()
            out.float().sum().backward()

        fwd_counter, all_counter = flop_counter(), flop_counter()
        with fwd_counter:
            forward()
        with all_counter:
            forward_backward()
        fwd_s = median_seconds(forward, repeats)
        all_s = median_seconds(forward_backward, repeats)
        model.zero_grad(set_to_none=True)
        fwd_flops = float(fwd_counter.get_total_flops())
        results[stage] = (fwd_s, max(0.0, all_s - fwd_s), fwd_flops, float(all_counter.get_total_flops()) - fwd_flops)
    # What the step does besides these stages (projections, head, loss, optimizer).
    whole = flop_counter()
    with whole:
        step()
    staged_flops = sum(fwd + bwd for _, _, fwd, bwd in results.values())
    staged_s = sum(fwd + bwd for fwd, bwd, _, _ in results.values())
    results['rest'] = (max(0.0, total - staged_s - optimizer_s), 0.0,
                       max(0.0, float(whole.get_total_flops()) - staged_flops), 0.0)
    return results, optimizer_s, total


def fraction(flops: float, seconds: float, peak_gflops: float) -> str:
    if seconds <= 0 or flops <= 0:
        return '     -'
    return f'{flops / seconds / 1e9 / peak_gflops * 100:5.0f}%'


def print_inference(title: str, config: ModelConfig, peak: Peak, repeats: int, bandwidth: float) -> None:
    """bandwidth: the measured read GB/s, for the weights' streaming time per stage."""
    seconds, flops, total, weights, (in_chunk, warm, weight_bytes), winograd = inference_stages(config, repeats)
    print(f'\n{title}: {len(config.camera_names)} camera(s) {config.image_height}x{config.image_width}, '
          f'chunk {config.chunk_size}, dim {config.dim_model}, {config.n_encoder_layers}+{config.n_decoder_layers} '
          f'layers; fp32; one chunk {total * 1e3:.1f} ms ({repeats} repeats, median)')
    print(f'  {"stage":<14}{"GFLOP":>9}{"ms":>10}{"GFLOP/s":>10}{"of measured peak":>18}'
          f'{"at peak ms":>12}{"weights MB":>12}{"stream ms":>11}')
    for stage in ('backbone', 'encoder', 'decoder', 'rest'):
        gflop, ms = flops.get(stage, 0.0) / 1e9, seconds[stage] * 1e3
        rate = gflop / (ms / 1e3) if ms > 0 else 0.0
        stage_peak = peak.of(STAGE_KIND[stage], 'fp32')
        print(f'  {stage:<14}{gflop:9.2f}{ms:10.1f}{rate:10.1f}'
              f'{fraction(flops.get(stage, 0.0), seconds[stage], stage_peak):>18}'
              f'{gflop / stage_peak * 1e3:12.1f}{weights[stage] / 1e6:12.1f}{weights[stage] / bandwidth / 1e6:11.1f}')
    all_flops, all_bytes = sum(flops.values()), sum(weights.values())
    at_peak = sum(flops.get(stage, 0.0) / peak.of(STAGE_KIND[stage], 'fp32') for stage in flops) / 1e6
    print(f'  {"total":<14}{all_flops / 1e9:9.2f}{total * 1e3:10.1f}{all_flops / total / 1e9:10.1f}'
          f'{fraction(all_flops, total, peak.conv["fp32"]):>18}{at_peak:12.1f}{all_bytes / 1e6:12.1f}'
          f'{all_bytes / bandwidth / 1e6:11.1f}  (% of the conv peak)')
    print('  "at peak ms": the stage\'s FLOPs at its kind\'s measured peak; "stream ms": its fp32 weights '
          f'read once at {bandwidth:.1f} GB/s')
    if winograd:
        print(f'  the backbone runs {winograd} of its 3x3 convolutions as Winograd F(4x4, 3x3) (act_training.model.'
              'winograd: 4x fewer multiply-adds); its GFLOP are the direct convolutions\', so its share of the conv '
              'peak can pass 100 %')
    print(f'  encoder linear layers: {in_chunk * 1e3:.1f} ms in the chunk, {warm * 1e3:.1f} ms for the same calls '
          f'each repeated on a weight already in the caches: {(in_chunk - warm) * 1e3:.1f} ms more when their '
          f'{weight_bytes / 1e6:.0f} MB of weights come from memory ({weight_bytes / bandwidth / 1e6:.1f} ms to '
          f'read once at {bandwidth:.1f} GB/s)')


def print_training(config: ModelConfig, train, peak: Peak, bf16: bool, repeats: int) -> None:
    name = 'bf16' if bf16 else 'fp32'
    results, optimizer_s, total = training_stages(config, train, bf16, repeats)
    print(f'\ntraining step, demo config, batch {train.batch_size}, {name}: {total:.3f} s/step '
          f'({repeats} repeats, median)')
    print(f'  {"stage":<14}{"fwd GFLOP":>10}{"fwd ms":>9}{"fwd %":>7}{"bwd GFLOP":>11}{"bwd ms":>9}{"bwd %":>7}')
    for stage, (fwd_s, bwd_s, fwd_f, bwd_f) in results.items():
        peak_rate = peak.of(STAGE_KIND[stage], name)
        print(f'  {stage:<14}{fwd_f / 1e9:10.2f}{fwd_s * 1e3:9.1f}{fraction(fwd_f, fwd_s, peak_rate):>7}'
              f'{bwd_f / 1e9:11.2f}{bwd_s * 1e3:9.1f}{fraction(bwd_f, bwd_s, peak_rate):>7}')
    print(f'  {"optimizer":<14}{"":>10}{optimizer_s * 1e3:9.1f}')
    all_flops = sum(fwd + bwd for _, _, fwd, bwd in results.values())
    print(f'  whole step: {all_flops / 1e9:.2f} GFLOP in {total * 1e3:.0f} ms = {all_flops / total / 1e9:.1f} GFLOP/s, '
          f'{fraction(all_flops, total, peak.conv[name]).strip()} of the measured conv peak, '
          f'{fraction(all_flops, total, peak.theoretical[name]).strip()} of the FMA peak at the reported clock')


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--threads', type=int, default=None, help='torch threads (default: torch\'s)')
    parser.add_argument('--repeats', type=int, default=7)
    parser.add_argument('--quick', action='store_true', help='3 repeats, paper config with 1 camera only')
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    repeats = 3 if args.quick else args.repeats
    cpu = cpu_features()
    print(cpu.describe())
    print(f'torch {torch.__version__}, {torch.get_num_threads()} threads')

    dtypes = ['fp32'] + (['bf16'] if native_bf16(torch.device('cpu')) else [])
    peak, lines = measure_peak(dtypes, repeats)
    print('\nachievable rate (median of each kernel):')
    print('\n'.join(lines))
    for name in dtypes:
        share = max(peak.matmul[name], peak.conv[name]) / peak.theoretical[name]
        # Above 100 %: the cores run above the clock /proc/cpuinfo reports. Below it (AMX tiles:
        # 26 % on the Xeon of bench/results/roofline_xeon_amx.txt) the kernels at these sizes
        # do not reach the unit's rate; the fractions of the tables are of the measured rate.
        why = ': the cores run above that clock' if share > 1 else ''
        print(f'  {name}: measured peak matmul {peak.matmul[name]:.1f}, conv {peak.conv[name]:.1f} GFLOP/s; '
              f'FMA peak at the reported clock {peak.theoretical[name]:.1f} GFLOP/s '
              f'(measured = {share * 100:.0f}% of it{why})')

    bandwidth = measure_read_bandwidth(repeats)
    print(f'  memory: read {bandwidth:.1f} GB/s (sum over {BANDWIDTH_PROBE_MIB} MiB, {torch.get_num_threads()} threads)')

    paper = ModelConfig(camera_names=('top',))
    print_inference('inference, paper config', paper, peak, repeats, bandwidth)
    if not args.quick:
        print_inference('inference, paper config', replace(paper, camera_names=('top', 'left', 'right', 'low')),
                        peak, repeats, bandwidth)
    demo_model, demo_train = load_training_configs(DEMO_CONFIG)
    print_inference('inference, demo config', demo_model, peak, repeats, bandwidth)
    for bf16 in [False] + ([True] if 'bf16' in dtypes else []):
        print_training(demo_model, demo_train, peak, bf16, repeats)
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
