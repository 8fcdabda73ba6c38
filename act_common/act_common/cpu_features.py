"""What this machine's CPU computes natively, read at run time (never assumed).

This project's machines come as AMD EPYC with AVX512-BF16 and as AMD EPYC with AVX2 + FMA
only; users also run on other x86 CPUs and on aarch64 (Jetson Orin). Code that picks a
precision or a kernel asks this module; every bench prints `describe()`.

Sources of the constants:
- Flag names: Linux /proc/cpuinfo (`flags` on x86, `Features` on aarch64).
- oneDNN's packed bf16 weight reorder (torch.ops.mkldnn._reorder_linear_weight) needs
  avx_ne_convert, or avx512bw + avx512vl + avx512dq: its own error message, seen on an
  AVX2-only EPYC ("bf16 path needs the cpu support avx_ne_convert or avx512bw, avx512vl
  and avx512dq").
- FLOPs per cycle per core (fp32 FMA): 2 FMA pipes x 8 fp32 lanes x 2 = 32 on AMD Zen 2-4
  and Intel AVX2 cores (Zen 4 runs AVX-512 on 256-bit pipes, so it is no wider); 64 on
  Intel cores with two 512-bit FMA units (AVX-512 without AMD's double pumping);
  aarch64 NEON: 2-4 128-bit FMA pipes, taken as 4 x 4 x 2 = 32 (Neoverse V1/V2, Cortex-A78AE
  has 2 pipes: 16). A theoretical peak is an upper bound; bench/bench_roofline.py measures
  the achievable one.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import platform

CPUINFO = '/proc/cpuinfo'


@dataclasses.dataclass(frozen=True)
class CpuFeatures:
    """The CPU's model name, architecture, flags and clock, as the kernel reports them.

    cores: CPUs this process may run on (its affinity), not the machine's total.
    mhz: the current clock from /proc/cpuinfo (no cpufreq in a VM), 0.0 when unknown.
    """

    model: str
    arch: str
    flags: frozenset[str]
    cores: int
    mhz: float

    def has(self, *names: str) -> bool:
        return all(name in self.flags for name in names)

    @property
    def avx512_core(self) -> bool:
        """AVX-512 F/BW/VL/DQ: what oneDNN's packed bf16 reorder needs (without avx_ne_convert)."""
        return self.has('avx512f', 'avx512bw', 'avx512vl', 'avx512dq')

    @property
    def native_bf16(self) -> bool:
        """bf16 dot products in hardware: AVX512-BF16, AMX-BF16, or aarch64 BF16 (bf16 flag)."""
        if self.arch == 'aarch64':
            return self.has('bf16')
        return self.has('avx512_bf16') or self.has('amx_bf16')

    @property
    def onednn_bf16_packing(self) -> bool:
        """Whether oneDNN's packed bf16 weight reorder runs here (see the module docstring)."""
        return self.arch == 'x86_64' and (self.avx512_core or self.has('avx_ne_convert'))

    @property
    def fp32_flops_per_cycle(self) -> int:
        """Peak fp32 FLOPs per cycle per core (FMA = 2 FLOPs); sources in the module docstring."""
        if self.arch == 'aarch64':
            return 32
        if self.has('fma', 'avx2'):
            intel_512 = self.has('avx512f') and 'amd' not in self.model.lower() and 'epyc' not in self.model.lower()
            return 64 if intel_512 else 32
        return 16  # SSE/AVX without FMA: one 256-bit multiply + one add per cycle at most

    def peak_gflops(self, dtype: str = 'fp32', threads: int | None = None) -> float:
        """Theoretical peak in GFLOP/s for `threads` cores (default: all allowed cores).

        dtype 'bf16' counts 2x fp32 where bf16 is native (a bf16 dot product does two
        multiply-adds per fp32 lane), and the fp32 peak elsewhere (converted to fp32).
        Returns 0.0 when the clock is unknown.
        """
        per_cycle = self.fp32_flops_per_cycle * (2 if dtype == 'bf16' and self.native_bf16 else 1)
        return per_cycle * (threads or self.cores) * self.mhz / 1000.0

    def precision_support(self) -> dict[str, str]:
        """What each CPU inference precision resolves to here, in words (for `act doctor`)."""
        if self.native_bf16 and self.onednn_bf16_packing:
            bf16 = 'native bf16, packed oneDNN weights'
        elif self.native_bf16:
            bf16 = 'native bf16, unpacked weights (no AVX-512 core for the packed reorder)'
        else:
            bf16 = 'runs as bf16 storage with fp32 arithmetic (no native bf16): slower than fp32'
        return {'auto': 'bf16' if self.native_bf16 else 'fp32', 'fp32': 'fp32', 'bf16': bf16}

    def describe(self) -> str:
        """One line for benches and logs: model, arch, clock, cores and the flags that matter."""
        shown = sorted(self.flags & {'avx2', 'fma', 'avx512f', 'avx512bw', 'avx512vl', 'avx512dq',
                                     'avx512_bf16', 'avx512_vnni', 'amx_bf16', 'amx_tile',
                                     'avx_ne_convert', 'asimd', 'sve', 'bf16', 'i8mm'})
        return (f'CPU {self.model} ({self.arch}, {self.cores} cores allowed, {self.mhz:.0f} MHz), '
                f'flags: {" ".join(shown) or "none of interest"}; native bf16: {self.native_bf16}')


def parse_cpuinfo(text: str, arch: str, cores: int) -> CpuFeatures:
    """CpuFeatures from the text of /proc/cpuinfo (first processor block)."""
    model, flags, mhz = '', frozenset(), 0.0
    for line in text.splitlines():
        key, _, value = line.partition(':')
        key, value = key.strip().lower(), value.strip()
        if not model and key in ('model name', 'cpu model', 'hardware'):
            model = value
        elif not flags and key in ('flags', 'features'):
            flags = frozenset(value.split())
        elif not mhz and key == 'cpu mhz':
            try:
                mhz = float(value)
            except ValueError:
                pass
    return CpuFeatures(model=model or platform.processor() or 'unknown', arch=arch, flags=flags, cores=cores, mhz=mhz)


@functools.cache
def cpu_features() -> CpuFeatures:
    """This machine's CpuFeatures (read once per process). Respects ACT_CPU_FLAGS_DISABLE.

    ACT_CPU_FLAGS_DISABLE (comma-separated flag names) removes flags, so that a test or a
    user can run the suite as it would run on a CPU without them (for example
    `ACT_CPU_FLAGS_DISABLE=avx512_bf16,amx_bf16,avx512f,avx512bw,avx512vl,avx512dq`
    behaves like an AVX2-only EPYC as far as this suite's choices go).
    """
    try:
        with open(CPUINFO, encoding='utf-8', errors='replace') as f:
            text = f.read()
    except OSError:
        text = ''
    cores = len(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity') else (os.cpu_count() or 1)
    features = parse_cpuinfo(text, platform.machine(), cores)
    disabled = {name.strip() for name in os.environ.get('ACT_CPU_FLAGS_DISABLE', '').split(',') if name.strip()}
    if disabled:
        features = dataclasses.replace(features, flags=features.flags - disabled)
    return features
