"""Success is defined once (act_sim.tasks.TaskSpec.success) and every figure of the suite,
`act eval`'s included, reads that definition."""


def test_every_success_figure_reads_the_one_definition(monkeypatch):
    """AlohaSim.success (and so sim_node's TaskReward.success), the ROS episode runner that
    `act sim` reports, and `act eval`'s episode outcome all call TaskSpec.success: change
    the definition and all of them change."""
    import inspect

    from act_sim import episode_runner
    from act_sim.sim import AlohaSim
    from act_sim.tasks import TaskSpec
    from act_tools.evaluation import runner as evaluation

    calls = []
    original = TaskSpec.success

    def spy(self, episode_max_reward):
        calls.append(episode_max_reward)
        return original(self, episode_max_reward)

    monkeypatch.setattr(TaskSpec, 'success', spy)
    sim = AlohaSim('transfer_cube')
    sim.reset(0)
    assert sim.success is False and calls == [0.0]
    for module in (episode_runner, evaluation):
        assert '.success(last.episode_max_reward)' in inspect.getsource(module), module.__name__
    assert 'max_reward >=' not in inspect.getsource(evaluation) + inspect.getsource(episode_runner)
