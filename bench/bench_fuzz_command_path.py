"""The command path fuzzed with a larger budget than CI: sequences, commands, violations.

    python bench/bench_fuzz_command_path.py [--seconds 300] [--seed 1]

Runs the harness of test/command_path_fuzz.py (the policy node's path without ROS:
observation_sync -> observations -> stand-in model -> ControlLoop (chunk buffer,
temporal ensembling, CommandFilter)) on hypothesis-generated sequences, in batches of 100
with seeds seed, seed + 1, ... until the time budget is spent. Every tick is checked
against the rules in that module's docstring. Prints the number of sequences, ticks,
commands sent and checked, holds by reason, chunks refused, and the violations (their
first messages). Exit status 1 when any rule was broken. CI runs the same harness with a
fixed seed and 100 sequences (act_policy_node/test/test_policy_command_path_fuzz.py).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / 'test'))

from hypothesis import HealthCheck, given, seed, settings  # noqa: E402

from act_common.cpu_features import cpu_features  # noqa: E402
from command_path_fuzz import Counts, Violation, run_scenario, scenarios  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--seconds', type=float, default=300.0, help='time budget')
    parser.add_argument('--seed', type=int, default=1, help='seed of the first batch')
    parser.add_argument('--batch', type=int, default=100, help='sequences per hypothesis run')
    args = parser.parse_args()
    print(f'CPU: {cpu_features().describe()}')
    totals, violations = Counts(), []
    started = time.perf_counter()
    batch_seed = args.seed
    while time.perf_counter() - started < args.seconds:
        @settings(max_examples=args.batch, deadline=None, database=None,
                  suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
        @seed(batch_seed)
        @given(scenarios())
        def run(scenario):
            try:
                totals.merge(run_scenario(scenario))
            except Violation as error:  # counted, not shrunk: the bench reports, the CI test fails
                totals.sequences += 1
                violations.append(f'seed {batch_seed}: {error}')

        run()
        batch_seed += 1
    elapsed = time.perf_counter() - started
    print(f'{totals.sequences} sequences, {totals.ticks} control ticks, {totals.commands} commands sent and checked '
          f'({totals.commanded} with a new target), in {elapsed:.0f} s (seeds {args.seed}..{batch_seed - 1})')
    print(f'chunks: {totals.chunks_added} used, {totals.chunks_refused} refused; observations skipped as unusable: '
          f'{totals.observations_skipped}')
    print('holds by reason: ' + ', '.join(f'{reason} {count}' for reason, count in sorted(totals.holds.items())))
    print(f'violations: {len(violations)}')
    for line in violations[:10]:
        print('  ' + line)
    return 1 if violations else 0


if __name__ == '__main__':
    raise SystemExit(main())
