"""What this machine's CPU computes natively, read at run time (never assumed).

This project's machines come as AMD EPYC with AVX512-BF16, as AMD EPYC with AVX2 + FMA
only, and as Intel Xeon with AVX-512 and AMX-BF16 (family 6 model 207); users also run on
other x86 CPUs and on aarch64 (Jetson Orin). Code that picks a precision or a kernel asks
this module; every bench prints `describe()`.

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
- bf16 FLOPs per cycle per core: a bf16 dot product (VDPBF16PS, aarch64 BFDOT) does two
  multiply-adds per fp32 lane, so 2x the fp32 figure; Intel AMX-BF16 (Sapphire Rapids and
  later) 1024, Intel's figure for one core's tile unit ("1024 BF16 operations per cycle",
  the Intel AMX overview; TDPBF16PS does 16 x 16 x 32 multiply-adds in 16 cycles). oneDNN
  uses the tiles only when ONEDNN_MAX_CPU_ISA leaves AVX512_CORE_AMX allowed.
- ONEDNN_MAX_CPU_ISA (DNNL_MAX_CPU_ISA): oneDNN's documented cap on the instruction sets it
  dispatches to (SSE41, AVX, AVX2, AVX2_VNNI, AVX2_VNNI_2, AVX512_CORE, ...). Under
  `ONEDNN_MAX_CPU_ISA=AVX2` the packed bf16 reorder fails on an AVX-512 machine exactly
  as on an AVX2-only one (seen on this project's AVX512-BF16 EPYC), so a capped oneDNN
  counts as one without the packed reorder.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import platform

CPUINFO = '/proc/cpuinfo'
# oneDNN ISA caps below AVX-512 core: the packed bf16 reorder needs AVX-512 core, or
# avx_ne_convert (AVX2_VNNI_2).
_ONEDNN_ISAS_WITHOUT_AVX512 = ('SSE41', 'AVX', 'AVX2', 'AVX2_VNNI', 'AVX2_VNNI_2')


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
    # ONEDNN_MAX_CPU_ISA as set for this process ('' = no cap).
    onednn_max_isa: str = ''
    # x86's 'cpu family' and 'model' numbers ('' where not reported): 'AMD EPYC' names
    # several CPU types (family 23 model 49 AVX2-only, family 25 model 1 AVX2-only, family 25
    # model 17 AVX512-BF16), and the README's figures are per type.
    family: str = ''
    model_number: str = ''

    def has(self, *names: str) -> bool:
        return all(name in self.flags for name in names)

    @property
    def avx512_core(self) -> bool:
        """AVX-512 F/BW/VL/DQ: what oneDNN's packed bf16 reorder needs (without avx_ne_convert)."""
        return self.has('avx512f', 'avx512bw', 'avx512vl', 'avx512dq')

    @property
    def onednn_avx2_only(self) -> bool:
        """Whether oneDNN runs its AVX2 kernels here and no AVX-512 ones: x86 with AVX2, and
        either no AVX-512 core or an ONEDNN_MAX_CPU_ISA cap below it."""
        if self.arch != 'x86_64' or not self.has('avx2'):
            return False
        return not self.avx512_core or self.onednn_max_isa.upper() in _ONEDNN_ISAS_WITHOUT_AVX512

    @property
    def native_bf16(self) -> bool:
        """bf16 dot products in hardware: AVX512-BF16, AMX-BF16, or aarch64 BF16 (bf16 flag)."""
        if self.arch == 'aarch64':
            return self.has('bf16')
        return self.has('avx512_bf16') or self.has('amx_bf16')

    @property
    def onednn_bf16_packing(self) -> bool:
        """Whether oneDNN's packed bf16 weight reorder runs here (see the module docstring)."""
        if self.arch != 'x86_64':
            return False
        cap = self.onednn_max_isa.upper()
        if cap in _ONEDNN_ISAS_WITHOUT_AVX512:
            return cap == 'AVX2_VNNI_2' and self.has('avx_ne_convert')
        return self.avx512_core or self.has('avx_ne_convert')

    @property
    def amx_bf16(self) -> bool:
        """AMX-BF16 tiles that oneDNN may use: the flags, and no ONEDNN_MAX_CPU_ISA cap below AMX."""
        if self.arch != 'x86_64' or not self.has('amx_bf16', 'amx_tile'):
            return False
        cap = self.onednn_max_isa.upper()
        return not cap or 'AMX' in cap

    @property
    def fp32_flops_per_cycle(self) -> int:
        """Peak fp32 FLOPs per cycle per core (FMA = 2 FLOPs); sources in the module docstring."""
        if self.arch == 'aarch64':
            return 32
        if self.has('fma', 'avx2'):
            intel_512 = self.has('avx512f') and 'amd' not in self.model.lower() and 'epyc' not in self.model.lower()
            return 64 if intel_512 else 32
        return 16  # SSE/AVX without FMA: one 256-bit multiply + one add per cycle at most

    @property
    def bf16_flops_per_cycle(self) -> int:
        """Peak bf16 FLOPs per cycle per core: AMX tiles, else 2x fp32 where bf16 is native,
        else the fp32 figure (bf16 converted to fp32); sources in the module docstring."""
        if self.amx_bf16:
            return 1024
        return self.fp32_flops_per_cycle * (2 if self.native_bf16 else 1)

    def peak_gflops(self, dtype: str = 'fp32', threads: int | None = None) -> float:
        """Theoretical peak in GFLOP/s for `threads` cores (default: all allowed cores).

        dtype: 'fp32' or 'bf16' (`bf16_flops_per_cycle`). Returns 0.0 when the clock is unknown.
        """
        per_cycle = self.bf16_flops_per_cycle if dtype == 'bf16' else self.fp32_flops_per_cycle
        return per_cycle * (threads or self.cores) * self.mhz / 1000.0

    def precision_support(self) -> dict[str, str]:
        """What each CPU inference precision runs as here, in words (for `act doctor` and the
        policy node's log); 'auto' maps to the precision it resolves to ('bf16' or 'fp32').
        bf16 runs on every CPU: without the packed reorder its linear layers stay unpacked."""
        packing = 'packed oneDNN weights' if self.onednn_bf16_packing else (
            'unpacked weights (oneDNN\'s packed bf16 reorder needs avx512bw+avx512vl+avx512dq or avx_ne_convert'
            + (f', oneDNN capped at {self.onednn_max_isa}' if self.onednn_max_isa else '') + ')')
        if self.native_bf16:
            bf16 = f'bf16: native bf16, {packing}'
        else:
            missing = 'bf16' if self.arch == 'aarch64' else 'avx512_bf16 or amx_bf16'
            bf16 = (f'bf16: no native bf16 (no {missing}): bf16 storage, products converted to fp32, {packing}; '
                    f'slower than fp32')
        fp32 = 'fp32: packed oneDNN weights'
        return {'auto': 'bf16' if self.native_bf16 else 'fp32', 'fp32': fp32, 'bf16': bf16}

    def describe(self) -> str:
        """One line for benches and logs: model (with family and model numbers where known),
        arch, clock, cores and the flags that matter."""
        shown = sorted(self.flags & {'avx2', 'fma', 'avx512f', 'avx512bw', 'avx512vl', 'avx512dq',
                                     'avx512_bf16', 'avx512_vnni', 'amx_bf16', 'amx_tile',
                                     'avx_ne_convert', 'asimd', 'sve', 'bf16', 'i8mm'})
        cap = f'; ONEDNN_MAX_CPU_ISA={self.onednn_max_isa}' if self.onednn_max_isa else ''
        numbers = f', family {self.family} model {self.model_number}' if self.family and self.model_number else ''
        return (f'CPU {self.model}{numbers} ({self.arch}, {self.cores} cores allowed, {self.mhz:.0f} MHz), '
                f'flags: {" ".join(shown) or "none of interest"}; native bf16: {self.native_bf16}; '
                f'oneDNN bf16 packing: {self.onednn_bf16_packing}{cap}')


def parse_cpuinfo(text: str, arch: str, cores: int) -> CpuFeatures:
    """CpuFeatures from the text of /proc/cpuinfo (first processor block)."""
    model, flags, mhz, family, model_number = '', frozenset(), 0.0, '', ''
    for line in text.splitlines():
        key, _, value = line.partition(':')
        key, value = key.strip().lower(), value.strip()
        if not model and key in ('model name', 'cpu model', 'hardware'):
            model = value
        elif not flags and key in ('flags', 'features'):
            flags = frozenset(value.split())
        elif not family and key == 'cpu family':
            family = value
        elif not model_number and key == 'model':
            model_number = value
        elif not mhz and key == 'cpu mhz':
            try:
                mhz = float(value)
            except ValueError:
                pass
    return CpuFeatures(model=model or platform.processor() or 'unknown', arch=arch, flags=flags, cores=cores, mhz=mhz,
                       family=family, model_number=model_number)


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
    cap = os.environ.get('ONEDNN_MAX_CPU_ISA') or os.environ.get('DNNL_MAX_CPU_ISA') or ''
    return dataclasses.replace(features, onednn_max_isa=cap.strip())


# Run a process as on an AVX2+FMA-only EPYC (no AVX-512 at all): our choices through
# ACT_CPU_FLAGS_DISABLE, oneDNN's kernels through its ISA cap. Used by the tests that run
# the precision tests as on such a CPU.
AVX2_ONLY_ENV = {
    'ACT_CPU_FLAGS_DISABLE': 'avx512_bf16,amx_bf16,amx_tile,avx_ne_convert,avx512f,avx512bw,avx512vl,avx512dq,avx512_vnni',
    'ONEDNN_MAX_CPU_ISA': 'AVX2',
}
