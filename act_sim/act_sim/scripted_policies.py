"""Scripted policies for the demonstrations, in end-effector space.

A policy moves each gripper through timed waypoints (act_sim.waypoints). Positions name
the grasp point between the fingertips (the mocap weld point, see act_sim.ee_sim);
orientations are turns of the world-aligned mocap frame. The left hand points along +x
when level, the right one along -x; tilting a hand's fingers down is a turn about +y for
the left arm and -y for the right arm.

Departure from the original ACT scripts, which planned every waypoint once from the
initial object poses: a policy here re-plans at fixed steps from where the objects really
are (a scripted policy may read the simulator's state; the demonstration it produces is
still just joint trajectories). The handover and the insertion then aim at the object in
the other hand, not at where it should have been, which is what the 95 % target needs.
Timings and offsets are ours, tuned on the stiffened-weld scene: grasps close slowly and
are held still before objects move; the handover overlaps both grasps before the right
hand opens.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from act_sim.scene import ARM_BASE_XY
from act_sim.waypoints import (
    Waypoint,
    check_waypoints,
    interpolate,
    quat_about,
    quat_between,
    quat_multiply,
    rotate,
)

OPEN, CLOSED = 1.0, 0.0
# Both mocap frames are world-aligned at the model's reference pose: hands level.
LEVEL = np.array([1.0, 0.0, 0.0, 0.0])
# Heights (m) of the grasp point when picking an object from the table. Objects are placed
# at z = 0.05 and fall onto the table in the first steps, so grasp heights are absolute.
CUBE_GRASP_Z = 0.03
PEG_GRASP_Z = 0.025
# The right hand grasps the peg this far (m, along +x) from its centre. The fingers, 6 cm
# wide along the peg, reach 3 cm toward its inserted end; grasped at the centre they stop
# 1 cm from the socket's rim when the peg meets the pin (at a 60 degree tilt they reached
# 3.6 cm and hit the rim first). Further off centre, the peg tilts in the grasp.
PEG_GRASP_OFFSET_X = 0.01
SOCKET_GRASP_Z = 0.05
APPROACH_HEIGHT = 0.08


@dataclass(frozen=True)
class SceneState:
    """What a scripted policy reads from the simulator when it plans."""

    step: int
    mocap_poses: np.ndarray  # (2, 7) current hand targets, left then right
    grippers: np.ndarray  # (2,) current opening commands
    object_poses: np.ndarray  # (n_obj, 7)


@dataclass(frozen=True)
class BimanualPlan:
    """Waypoints of both arms."""

    left: tuple[Waypoint, ...]
    right: tuple[Waypoint, ...]

    def __post_init__(self):
        check_waypoints(self.left)
        check_waypoints(self.right)

    def __call__(self, state: SceneState) -> tuple[np.ndarray, np.ndarray]:
        """Mocap poses (2, 7) and gripper openings (2,) at the state's control step."""
        left_pose, left_gripper = interpolate(self.left, state.step)
        right_pose, right_gripper = interpolate(self.right, state.step)
        return np.stack([left_pose, right_pose]), np.array([left_gripper, right_gripper])


# What a stage does each step: hand targets (2, 7) and gripper openings (2,) from the scene.
Stage = Callable[[SceneState], tuple[np.ndarray, np.ndarray]]
# Makes a stage when it begins, from the scene as it is then.
Planner = Callable[[SceneState], Stage]


class StagedPolicy:
    """Plans each stage when it begins, from the scene as it is then."""

    def __init__(self, stages: Sequence[tuple[int, Planner]]):
        starts = [start for start, _ in stages]
        if not starts or starts[0] != 0 or starts != sorted(set(starts)):
            raise ValueError(f'stage start steps must begin at 0 and increase, got {starts}')
        self._stages = dict(stages)
        self._stage: Stage | None = None

    def __call__(self, state: SceneState) -> tuple[np.ndarray, np.ndarray]:
        planner = self._stages.get(state.step)
        if planner is not None:
            self._stage = planner(state)
        if self._stage is None:
            raise RuntimeError('a staged policy must be called from step 0 on')
        return self._stage(state)


def _turned(quat, axis: tuple[float, float, float], degrees: float) -> np.ndarray:
    """`quat` turned about a world axis."""
    return quat_multiply(quat_about(axis, np.radians(degrees)), np.asarray(quat, dtype=float))


def grasp_quat(arm: str, target_xy: np.ndarray, tilt_degrees: float) -> np.ndarray:
    """Fingers tilted down by `tilt_degrees`, the hand heading from its arm's base to the
    target, so that the waist turns the hand and the wrist need not roll (a fixed heading
    made the weld solver flip the forearm for objects off the arm's centre line)."""
    heading = np.arctan2(*(np.asarray(target_xy) - ARM_BASE_XY[arm])[::-1])
    if arm == 'left':  # points along +x at heading 0
        return _turned(_turned(LEVEL, (0, 1, 0), tilt_degrees), (0, 0, 1), np.degrees(heading))
    # the right hand points along -x when level: its heading is measured from -x
    return _turned(_turned(LEVEL, (0, 1, 0), -tilt_degrees), (0, 0, 1), np.degrees(heading - np.pi))


def _at_height(position: np.ndarray, z: float) -> np.ndarray:
    return np.array([position[0], position[1], z])


def _wp(step: int, position, quat, gripper: float) -> Waypoint:
    return Waypoint(step, np.asarray(position, dtype=float), np.asarray(quat, dtype=float), gripper)


def _here(state: SceneState, arm: int) -> Waypoint:
    pose = state.mocap_poses[arm]
    return _wp(state.step, pose[:3], pose[3:], float(state.grippers[arm]))


# --- transfer cube: the right hand picks the cube and hands it to the left hand ---

TRANSFER_MEET = np.array([0.0, 0.5, 0.25])
TRANSFER_HANDOVER_STEP = 240


def _transfer_pick(state: SceneState) -> BimanualPlan:
    """Right hand: grasp the cube from above at 60 degrees, fingers pinching along the
    heading's normal, then carry it to the middle. Left hand: wait beside the middle,
    rolled 90 degrees so that its fingers will pinch the cube's top and bottom."""
    cube = state.object_poses[0, :3]
    meet = TRANSFER_MEET
    pick = grasp_quat('right', cube[:2], 60)
    carry = grasp_quat('right', meet[:2], 30)
    receive = _turned(LEVEL, (1, 0, 0), 90)
    right = (
        _here(state, 1),
        _wp(90, _at_height(cube, CUBE_GRASP_Z + APPROACH_HEIGHT), pick, OPEN),
        _wp(130, _at_height(cube, CUBE_GRASP_Z), pick, OPEN),
        _wp(160, _at_height(cube, CUBE_GRASP_Z), pick, CLOSED),
        _wp(170, _at_height(cube, CUBE_GRASP_Z), pick, CLOSED),
        _wp(220, meet + [0.05, 0.0, 0.0], carry, CLOSED),
        _wp(TRANSFER_HANDOVER_STEP, meet, carry, CLOSED),
    )
    left = (
        _here(state, 0),
        _wp(100, meet + [-0.1, 0.0, 0.0], receive, OPEN),
    )
    return BimanualPlan(left=left, right=right)


def _transfer_handover(state: SceneState) -> BimanualPlan:
    """Left hand: come in level to the cube where it really is and close on it; then the
    right hand opens and backs off, and the left hand carries the cube away."""
    cube = state.object_poses[0, :3]
    left_here, right_here = _here(state, 0), _here(state, 1)
    receive = left_here.quat
    grasp = cube + [-0.01, 0.0, 0.0]
    right = (
        right_here,
        _wp(300, right_here.position, right_here.quat, CLOSED),
        _wp(320, right_here.position, right_here.quat, OPEN),
        _wp(350, right_here.position + [0.1, 0.0, 0.05], right_here.quat, OPEN),
    )
    left = (
        left_here,
        _wp(255, grasp + [-0.09, 0.0, 0.0], receive, OPEN),
        _wp(275, grasp, receive, OPEN),
        _wp(295, grasp, receive, CLOSED),
        _wp(330, grasp, receive, CLOSED),
        _wp(370, grasp + [-0.1, 0.0, 0.0], receive, CLOSED),
    )
    return BimanualPlan(left=left, right=right)


def transfer_cube_policy() -> StagedPolicy:
    return StagedPolicy([(0, _transfer_pick), (TRANSFER_HANDOVER_STEP, _transfer_handover)])


# --- insertion: each hand picks its object; the peg goes into the socket in mid-air ---

INSERTION_MEET = np.array([0.0, 0.5, 0.15])
INSERTION_TILT = 90
INSERTION_LIFTED_STEP = 260
# The objects swing in the hands while lifted: plan the insertion after they settle.
INSERTION_ALIGN_STEP = 290
# Peg centre minus socket centre along x when the peg's end meets the pin's end: peg half
# length 0.06 + pin half length 0.04. Aim a little past it so that they touch.
PEG_TO_PIN_CONTACT_X = 0.10
INSERTION_PUSH_X = 0.01


def _grasp_and_lift(state: SceneState, arm: int, grasp_xyz: np.ndarray, grasp_z: float, tilted: np.ndarray,
                    pick: np.ndarray, meet_offset: list[float]):
    """One hand's insertion pick: above the object tilted, turned to the pick heading, down
    to grasp_z (m), closed, then lifted to INSERTION_MEET + meet_offset (m, world)."""
    above = _at_height(grasp_xyz, grasp_z + APPROACH_HEIGHT)
    at = _at_height(grasp_xyz, grasp_z)
    return (
        _here(state, arm),
        _wp(80, above, tilted, OPEN),
        _wp(120, above, pick, OPEN),
        _wp(170, at, pick, OPEN),
        _wp(210, at, pick, CLOSED),
        _wp(220, at, pick, CLOSED),
        _wp(INSERTION_LIFTED_STEP, INSERTION_MEET + meet_offset, pick, CLOSED),
    )


def _insertion_pick(state: SceneState) -> BimanualPlan:
    """Both hands grasp their object straight from above, fingers across its long axis,
    and lift it beside the middle without turning: the objects then hang in the hands
    level and lined up with x."""
    peg = state.object_poses[0, :3] + [PEG_GRASP_OFFSET_X, 0.0, 0.0]
    socket = state.object_poses[1, :3]
    # Tilt down first with the hand heading where the arm points (the wrist does not
    # roll), then turn about the vertical until the fingers close across the object.
    # Turning while the wrist passes straight (wrist_angle 0, where forearm_roll and
    # wrist_rotate are coaxial) let the weld solver flip the forearm by half a turn.
    left_tilted = grasp_quat('left', socket[:2], INSERTION_TILT)
    right_tilted = grasp_quat('right', peg[:2], INSERTION_TILT)
    left_pick = grasp_quat('left', ARM_BASE_XY['left'] + [1.0, 0.0], INSERTION_TILT)
    right_pick = grasp_quat('right', ARM_BASE_XY['right'] - [1.0, 0.0], INSERTION_TILT)
    left = _grasp_and_lift(state, 0, socket, SOCKET_GRASP_Z, left_tilted, left_pick, [-0.12, 0.0, 0.0])
    right = _grasp_and_lift(state, 1, peg, PEG_GRASP_Z, right_tilted, right_pick, [0.16, 0.0, 0.0])
    return BimanualPlan(left=left, right=right)


def _axis(quat: np.ndarray) -> np.ndarray:
    """An object's long axis (its body x axis) in the world. (3,)"""
    return rotate(quat, np.array([1.0, 0.0, 0.0]))


def _insertion_insert(state: SceneState) -> BimanualPlan:
    """Line the peg up with the socket's axis from where each really sits in its hand,
    then slide it in along that axis until it touches the pin.

    The objects sit in the hands turned by a few degrees (fingers that close at an angle
    turn them); the right hand turns by the rotation that takes the peg's axis onto the
    socket's, carrying the peg with it.
    """
    peg, socket = state.object_poses[0], state.object_poses[1]
    left_here, right_here = _here(state, 0), _here(state, 1)
    # Object centres relative to the hands' grasp points.
    socket_in_hand = socket[:3] - left_here.position
    socket_axis = _axis(socket[3:])
    if socket_axis[0] < 0:
        socket_axis = -socket_axis
    peg_axis = _axis(peg[3:])
    if peg_axis[0] < 0:
        peg_axis = -peg_axis
    turn = quat_between(peg_axis, socket_axis)
    right_quat = quat_multiply(turn, right_here.quat)
    peg_in_hand = rotate(turn, peg[:3] - right_here.position)
    socket_target = INSERTION_MEET + [-0.05, 0.0, 0.0]
    lined_up = socket_target + (PEG_TO_PIN_CONTACT_X + 0.04) * socket_axis
    # Slow down for the last centimetre: a peg that hits the pin fast slips back in the hand.
    almost = socket_target + (PEG_TO_PIN_CONTACT_X + 0.01) * socket_axis
    inserted = socket_target + (PEG_TO_PIN_CONTACT_X - INSERTION_PUSH_X) * socket_axis
    left = (
        left_here,
        _wp(320, socket_target - socket_in_hand, left_here.quat, CLOSED),
    )
    right = (
        right_here,
        _wp(320, lined_up - peg_in_hand, right_quat, CLOSED),
        _wp(330, lined_up - peg_in_hand, right_quat, CLOSED),
        _wp(365, almost - peg_in_hand, right_quat, CLOSED),
        _wp(395, inserted - peg_in_hand, right_quat, CLOSED),
    )
    return BimanualPlan(left=left, right=right)


def insertion_policy() -> StagedPolicy:
    return StagedPolicy([(0, _insertion_pick), (INSERTION_ALIGN_STEP, _insertion_insert)])


POLICIES: dict[str, Callable[[], StagedPolicy]] = {
    'transfer_cube': transfer_cube_policy,
    'insertion': insertion_policy,
}
