"""Scripted demonstrations: made in end-effector space, kept as joint trajectories.

`generate_demo(task, seed)` runs the task's scripted policy (act_sim.scripted_policies)
on the mocap scene (act_sim.ee_sim) and records, per control step, the joint angles the
arms reached and the gripper commands. Those rows are what a leader arm, teleop or the
direct player then command to the joint-controlled robot, one row per control tick;
`replay_demo` does that in the plain simulator, act_sim.episode_runner over ROS.

Row t of `joint_targets` is the target held during step t (from time t*dt to (t+1)*dt):
the joint angles the end-effector run reached at the END of its step t, and the gripper
command of step t. (The original ACT recorder commanded at step t the angles from before
step t, one step behind, and the replay trailed further.)

Why ports of the original scripts succeed in about 30 % of episodes. Measured with our
policies over seeds 0-49 (bench/bench_scripted_demos.py --ablations; a usable demo = highest
reward reached and the objects still held at the last step, TaskSpec.demo_is_usable),
transfer cube / insertion:
- As built here: end-effector run 50/50 and 50/50, joint replay 50/50 and 50/50.
- Seeds: gym-aloha's end-effector task draws the object pose from numpy's global random
  state, its joint env from RandomState(seed). A port that seeds only one of them replays
  the trajectory against objects somewhere else: replay 2/50 and 0/50. Both scenes here
  take the poses from act_sim.tasks for the same seed.
- The stock mocap weld is soft (solimp 0.25): the hand trails its target and sags under
  load. End-effector run 35/50 and 0/50. Stiffened (act_sim.ee_sim), 50/50.
- The forearm flip of the weld solver (act_sim.ee_sim): without the forearm_roll spring
  the insertion replays 39/50, the replay not following the flip.
- Replaying one step late, as the original recorder did: no change here (50/50, 50/50),
  the minimum-jerk waypoints (act_sim.waypoints) being smooth enough.
- MuJoCo now computes the weld's relative pose from the reference configuration, so the
  controlled point is 13.5 cm ahead of `gripper_link`; waypoints written for
  `gripper_link`, as the original ones were, put the fingers 13.5 cm off. Waypoints here
  name the point between the fingertips.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from act_sim.ee_sim import EndEffectorSim
from act_sim.scene import VECTOR_SIZE
from act_sim.scripted_policies import POLICIES, SceneState
from act_sim.sim import AlohaSim
from act_sim.tasks import task_spec


@dataclass(frozen=True)
class ScriptedDemo:
    """One scripted episode, as the joint-space commands that reproduce it."""

    task: str
    seed: int
    episode_length: int
    # (T, 14) action-space targets: per arm 6 joint angles (rad) and the normalized
    # gripper command (0 = closed, 1 = open); row t is held during step t.
    joint_targets: np.ndarray
    # (n_obj, 7) object poses at the reset (x, y, z, qw, qx, qy, qz).
    object_poses: np.ndarray
    # The end-effector run is worth keeping: it reached the highest reward and ended with
    # the objects held (TaskSpec.demo_is_usable, stricter than an episode's success).
    usable: bool
    # (T,) reward after each step of the end-effector run.
    rewards: np.ndarray = field(repr=False)


@dataclass(frozen=True)
class ReplayResult:
    # TaskSpec.demo_is_usable of the replay (max reward reached and still held at the end).
    usable: bool
    rewards: np.ndarray  # (T,)
    object_poses: np.ndarray  # (n_obj, 7) at the end


def generate_demo(task: str, seed: int, sim: EndEffectorSim | None = None) -> ScriptedDemo:
    """Runs the scripted policy of `task` on the mocap scene reset with `seed`.

    `sim`: a mocap scene of the task to reuse (loading one takes a while); a new one with
    the default settings when None.
    """
    spec = task_spec(task)
    if sim is None or sim.task.name != task:
        sim = EndEffectorSim(task)
    object_poses = sim.reset(seed)
    policy = POLICIES[task]()
    grippers = np.zeros(2)
    targets = np.empty((spec.episode_length, VECTOR_SIZE))
    rewards = np.empty(spec.episode_length)
    for step in range(spec.episode_length):
        poses, grippers = policy(SceneState(step, sim.mocap_poses(), grippers, sim.object_poses()))
        rewards[step] = sim.step(poses, grippers)
        arms = sim.arm_positions()  # (2, 6)
        targets[step] = np.concatenate([arms[0], grippers[:1], arms[1], grippers[1:]])
    return ScriptedDemo(
        task=task,
        seed=int(seed),
        episode_length=spec.episode_length,
        joint_targets=targets,
        object_poses=object_poses,
        usable=spec.demo_is_usable(rewards),
        rewards=rewards,
    )


def replay_demo(demo: ScriptedDemo, sim: AlohaSim | None = None) -> ReplayResult:
    """Commands the demo's rows to the joint-controlled scene, one per control step."""
    if sim is None or sim.task.name != demo.task:
        sim = AlohaSim(demo.task)
    sim.reset(demo.seed)
    rewards = np.array([sim.step(row) for row in demo.joint_targets])
    return ReplayResult(
        usable=sim.task.demo_is_usable(rewards),
        rewards=rewards,
        object_poses=sim.object_poses(),
    )

