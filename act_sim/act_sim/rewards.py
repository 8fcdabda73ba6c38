"""Task rewards from MuJoCo contacts, staged as in the ACT paper's sim tasks.

Transfer cube: 1 the right gripper touches the cube, 2 it lifted the cube off the table,
3 the left gripper touches the cube, 4 the left gripper holds it off the table.
Insertion: 1 both grippers touch their object, 2 both objects are lifted, 3 the peg touches
the socket in the air, 4 the peg touches the pin inside the socket.

Departure from gym-aloha: a contact pair counts in either geom order (gym-aloha matches
one order only, which depends on the body order of the XML); the stages are the same.
Reward 4 of transfer cube fires on a brief touch too: whether a demonstration really holds
the cube is checked separately (act_sim.scripted).
"""

from __future__ import annotations

from typing import Callable

import mujoco

RewardFn = Callable[[mujoco.MjData], float]

LEFT_FINGER = 'vx300s_left/10_left_gripper_finger'
RIGHT_FINGER = 'vx300s_right/10_right_gripper_finger'
TABLE = 'table'
SOCKET_WALLS = ('socket-1', 'socket-2', 'socket-3', 'socket-4')


class _Contacts:
    """The set of touching geom pairs of one physics state, unordered."""

    def __init__(self, data: mujoco.MjData):
        count = data.ncon
        self._pairs = {frozenset(pair) for pair in zip(data.contact.geom1[:count].tolist(), data.contact.geom2[:count].tolist())}

    def touch(self, geom_a: int, geom_b: int) -> bool:
        return frozenset((geom_a, geom_b)) in self._pairs

    def touch_any(self, geoms_a: tuple[int, ...], geom_b: int) -> bool:
        return any(self.touch(geom, geom_b) for geom in geoms_a)


def _geom_ids(model: mujoco.MjModel, *names: str) -> tuple[int, ...]:
    ids = []
    for name in names:
        geom_id = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_GEOM, name)
        if geom_id < 0:
            raise ValueError(f'scene has no geom {name!r}, which the reward needs')
        ids.append(geom_id)
    return tuple(ids)


def transfer_cube_reward(model: mujoco.MjModel) -> RewardFn:
    cube, left, right, table = _geom_ids(model, 'red_box', LEFT_FINGER, RIGHT_FINGER, TABLE)

    def reward(data: mujoco.MjData) -> float:
        contacts = _Contacts(data)
        on_table = contacts.touch(cube, table)
        if contacts.touch(cube, left):
            return 3.0 if on_table else 4.0
        if contacts.touch(cube, right):
            return 1.0 if on_table else 2.0
        return 0.0

    return reward


def insertion_reward(model: mujoco.MjModel) -> RewardFn:
    peg, pin, left, right, table = _geom_ids(model, 'red_peg', 'pin', LEFT_FINGER, RIGHT_FINGER, TABLE)
    walls = _geom_ids(model, *SOCKET_WALLS)

    def reward(data: mujoco.MjData) -> float:
        contacts = _Contacts(data)
        if contacts.touch(peg, pin):
            return 4.0
        in_air = not contacts.touch(peg, table) and not contacts.touch_any(walls, table)
        if contacts.touch_any(walls, peg) and in_air:
            return 3.0
        both_grasped = contacts.touch(peg, right) and contacts.touch_any(walls, left)
        if both_grasped:
            return 2.0 if in_air else 1.0
        return 0.0

    return reward


REWARD_FACTORIES: dict[str, Callable[[mujoco.MjModel], RewardFn]] = {
    'transfer_cube': transfer_cube_reward,
    'insertion': insertion_reward,
}
