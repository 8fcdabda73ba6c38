"""Closed-loop evaluation of a checkpoint on the simulated ALOHA, over ROS (`act eval`),
one concern per module:

    config.py       EvalConfig (seeds, mode, episodes, what is recorded), EvalError
    runner.py       evaluate(): the episodes against sim_node, the policy node in this process
    sim_process.py  sim_node in its own process
    rendering.py    the render settings the sim uses (the checkpoint's, or overridden)
    video.py        one camera's frames per episode, on the control grid, to mp4
    report.py       EpisodeOutcome, EvalReport (success with its interval, latency, timing)

    report = evaluate(EvalConfig(checkpoint='runs/cube/best', task='transfer_cube', episodes=50))
"""

from act_tools.evaluation.config import EVAL_SEED_START, EvalConfig, EvalError
from act_tools.evaluation.rendering import eval_render_settings
from act_tools.evaluation.report import EpisodeOutcome, EvalReport
from act_tools.evaluation.runner import evaluate
from act_tools.evaluation.video import frames_on_grid

__all__ = ['EVAL_SEED_START', 'EpisodeOutcome', 'EvalConfig', 'EvalError', 'EvalReport', 'eval_render_settings',
           'evaluate', 'frames_on_grid']
