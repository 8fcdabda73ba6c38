"""`act doctor` prints the CPU features and what each inference precision resolves to."""

import os
import subprocess
import sys

from act_common.cpu_features import AVX2_ONLY_ENV


def _doctor_cpu_lines(env: dict) -> str:
    code = ('from act_tools.cli.doctor import check_cpu, check_cpu_precisions\n'
            'print(check_cpu()); print(check_cpu_precisions())\n')
    result = subprocess.run([sys.executable, '-c', code], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_doctor_names_cpu_flags_and_precisions_as_on_an_avx2_only_cpu():
    out = _doctor_cpu_lines({**os.environ, **AVX2_ONLY_ENV})
    assert 'native bf16: False' in out and 'avx512' not in out.splitlines()[0].split('flags:')[1].split(';')[0]
    assert 'auto -> fp32' in out and 'no native bf16' in out and 'fp32: packed oneDNN weights' in out


def test_doctor_precisions_follow_this_cpu():
    from act_common.cpu_features import cpu_features

    out = _doctor_cpu_lines(dict(os.environ))
    assert f'auto -> {cpu_features().precision_support()["auto"]}' in out
    assert cpu_features().model in out
