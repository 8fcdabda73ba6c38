"""The bimanual ALOHA in MuJoCo as a ROS 2 robot: physics, cameras, clock, scripted demonstrations."""
