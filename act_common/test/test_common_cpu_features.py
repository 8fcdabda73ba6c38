"""cpu_features: parsing /proc/cpuinfo text of the CPU types this project meets."""

from act_common.cpu_features import parse_cpuinfo

EPYC_BF16 = """processor\t: 0
model name\t: AMD EPYC
cpu MHz\t\t: 2596.144
flags\t\t: fpu sse sse2 fma avx avx2 avx512f avx512dq avx512bw avx512vl avx512_bf16 avx512_vnni
"""
EPYC_AVX2 = """processor\t: 0
cpu family\t: 25
model\t\t: 1
model name\t: AMD EPYC 7B13
cpu MHz\t\t: 2250.000
flags\t\t: fpu sse sse2 fma avx avx2 f16c
"""
XEON_AMX = """processor\t: 0
model name\t: Intel(R) Xeon(R) Processor
cpu MHz\t\t: 2100.000
flags\t\t: fpu sse sse2 fma avx avx2 avx512f avx512dq avx512bw avx512vl avx_vnni avx512_bf16 amx_bf16 avx512_fp16 amx_tile amx_int8
"""
ORIN = """processor\t: 0
BogoMIPS\t: 62.50
Features\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm lrcpc dcpop asimddp
CPU implementer\t: 0x41
"""


def test_an_avx512_bf16_epyc_has_native_bf16_and_the_packed_reorder():
    cpu = parse_cpuinfo(EPYC_BF16, 'x86_64', 2)
    assert cpu.native_bf16 and cpu.onednn_bf16_packing and cpu.avx512_core
    assert cpu.precision_support()['auto'] == 'bf16'
    assert cpu.mhz == 2596.144
    # 2 cores x 32 FLOP/cycle x 2.596 GHz; bf16 counts double.
    assert abs(cpu.peak_gflops('fp32') - 166.15) < 0.01
    assert abs(cpu.peak_gflops('bf16') - 332.31) < 0.01


def test_an_avx2_only_epyc_has_neither_bf16_nor_the_packed_reorder():
    cpu = parse_cpuinfo(EPYC_AVX2, 'x86_64', 2)
    assert not cpu.native_bf16 and not cpu.onednn_bf16_packing
    assert cpu.precision_support()['auto'] == 'fp32'
    assert cpu.peak_gflops('bf16') == cpu.peak_gflops('fp32') == 2 * 32 * 2.25
    assert 'avx2' in cpu.describe() and 'avx512' not in cpu.describe()
    # The numbers tell AVX2-only EPYCs apart from the AVX512-BF16 ones of the same name.
    assert cpu.describe().startswith('CPU AMD EPYC 7B13, family 25 model 1 (x86_64')
    assert 'family' not in parse_cpuinfo(EPYC_BF16, 'x86_64', 2).describe()


def test_an_amx_xeon_counts_its_tiles_for_bf16_unless_onednn_is_capped_below_amx():
    import dataclasses

    cpu = parse_cpuinfo(XEON_AMX, 'x86_64', 2)
    assert cpu.native_bf16 and cpu.onednn_bf16_packing and cpu.amx_bf16
    # Intel AVX-512: two 512-bit FMA units, 64 FLOP/cycle; AMX-BF16: 1024 FLOP/cycle per core.
    assert abs(cpu.peak_gflops('fp32') - 268.8) < 1e-9
    assert abs(cpu.peak_gflops('bf16') - 4300.8) < 1e-9
    assert 'amx_bf16' in cpu.describe()
    capped = dataclasses.replace(cpu, onednn_max_isa='AVX512_CORE_BF16')
    assert not capped.amx_bf16 and abs(capped.peak_gflops('bf16') - 537.6) < 1e-9
    assert dataclasses.replace(cpu, onednn_max_isa='avx512_core_amx').amx_bf16


def test_aarch64_without_the_bf16_feature_resolves_auto_to_fp32_and_knows_no_clock():
    cpu = parse_cpuinfo(ORIN, 'aarch64', 8)
    assert not cpu.native_bf16 and not cpu.onednn_bf16_packing
    assert cpu.mhz == 0.0 and cpu.peak_gflops() == 0.0
    assert cpu.has('asimd')


def test_a_onednn_capped_below_avx512_has_no_packed_bf16_reorder():
    # ONEDNN_MAX_CPU_ISA=AVX2 on an AVX512-BF16 machine fails the reorder like an AVX2 CPU.
    import dataclasses

    cpu = dataclasses.replace(parse_cpuinfo(EPYC_BF16, 'x86_64', 2), onednn_max_isa='AVX2')
    assert cpu.native_bf16 and not cpu.onednn_bf16_packing
    assert 'unpacked weights' in cpu.precision_support()['bf16'] and 'capped at AVX2' in cpu.precision_support()['bf16']
    assert dataclasses.replace(cpu, onednn_max_isa='AVX512_CORE_AMX').onednn_bf16_packing
    assert 'ONEDNN_MAX_CPU_ISA=AVX2' in cpu.describe()


def test_bf16_without_native_support_names_the_missing_flags():
    detail = parse_cpuinfo(EPYC_AVX2, 'x86_64', 2).precision_support()['bf16']
    assert 'avx512_bf16 or amx_bf16' in detail and 'slower than fp32' in detail and 'unpacked' in detail
