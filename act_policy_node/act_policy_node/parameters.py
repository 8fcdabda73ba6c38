"""The policy node's parameters, one table (act_common.parameters): the node declares
from it, `act policy` builds its flags from it, and the tests check config/policy.yaml and
the README against it. No ROS import: the CLI reads it at start-up.

'configure': takes effect at the next configure; the others at once.
"""

from __future__ import annotations

from act_common.parameters import ParameterSpec, ParameterTable
from act_policy_node.temporal_ensembler import DEFAULT_M, WEIGHTINGS, Weighting
from act_training.config import PRECISIONS

# The node's parameters: declared from here, checked against config/policy.yaml, listed in
# the README (act_common.parameters). 'configure': takes effect at the next configure.
PARAMETERS = ParameterTable('policy_node', [
    ParameterSpec('robot_config', 'string', '',
                  'Path of the robot config YAML (act_common/config/robots/*.yaml).', 'configure'),
    ParameterSpec('checkpoint', 'string', '', 'Checkpoint folder written by act train (safetensors + JSON).',
                  'configure'),
    ParameterSpec('device', 'string', 'cpu', 'Inference device: cpu, cuda or cuda:N.', 'configure'),
    ParameterSpec('precision', 'string', 'auto',
                  'auto (bf16 where the device computes bf16 natively: CUDA, CPUs with AVX512-BF16 or AMX; fp32 '
                  'elsewhere), fp32 or bf16 (runs on every CPU; slower than fp32 without native bf16; '
                  '`act doctor` says what each runs as here).', 'configure', choices=PRECISIONS),
    ParameterSpec('camera_remap', 'string_array', None,
                  'policy_camera=robot_camera entries feeding a checkpoint camera from a differently named robot '
                  'camera; unset = same names.', 'configure'),
    ParameterSpec('torch_threads', 'int', 0, 'torch intra-op threads for inference, 0 = torch default.',
                  'configure', range=(0, 256)),
    ParameterSpec('observation_timeout_s', 'double', 0.2,
                  'Hold the last command when a camera or joint state is older than this (header stamp vs node '
                  'clock); also where /diagnostics calls a topic STALE.', range=(0.001, 10.0)),
    ParameterSpec('max_skew_s', 'double', 0.02, 'Largest stamp difference between the messages of one observation.',
                  range=(0.0, 1.0)),
    ParameterSpec('ensemble_weighting', 'string', Weighting.OLDEST_FIRST.value,
                  'oldest_first (paper: w_i = exp(-m i), i = 0 the oldest chunk), newest_first (i = 0 the newest), '
                  'or chunked (no ensembling: the newest chunk, queried every query_period_ticks).',
                  choices=WEIGHTINGS),
    ParameterSpec('ensemble_m', 'double', DEFAULT_M, 'm of the ensemble weights exp(-m i); 0 = plain average.',
                  range=(0.0, 10.0)),
    ParameterSpec('query_period_ticks', 'int', 0,
                  'Ticks between the observations of two queries; 0 = 1 when ensembling (as fast as the device '
                  'allows), in chunked execution the chunk size less the last inference latency (the next chunk '
                  'arrives as the current one runs out).', range=(0, 10000)),
    ParameterSpec('lockstep', 'bool', False,
                  'For a simulator that waits for every command (sim_node real_time_factor 0): command a tick on '
                  'which a query is due only once the chunk of its own observation is in (the paper\'s synchronous '
                  'evaluation). Never on a real robot.', 'configure'),
    ParameterSpec('diagnostics_latency_warn_s', 'double', 0.5,
                  '/diagnostics: mean inference latency above this is WARN.', range=(0.0, 60.0)),
    ParameterSpec('diagnostics_latency_error_s', 'double', 2.0,
                  '/diagnostics: mean inference latency above this is ERROR.', range=(0.0, 60.0)),
    ParameterSpec('diagnostics_age_warn_s', 'double', 0.1,
                  '/diagnostics: an observation topic older than this is WARN (STALE above observation_timeout_s).',
                  range=(0.0, 60.0)),
    ParameterSpec('diagnostics_missed_warn', 'double', 0.05,
                  '/diagnostics: a fraction of missed control deadlines above this is WARN.', range=(0.0, 1.0)),
    ParameterSpec('diagnostics_missed_error', 'double', 0.2,
                  '/diagnostics: a fraction of missed control deadlines above this is ERROR.', range=(0.0, 1.0)),
    ParameterSpec('diagnostics_stale_chunks_warn', 'int', 3,
                  '/diagnostics: more chunks dropped as stale in one activation than this is WARN (one per '
                  're-activation during an inference is expected).', range=(0, 1000000)),
])
