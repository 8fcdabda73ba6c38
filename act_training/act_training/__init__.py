"""rosbag-to-episode conversion, the ACT model, training and checkpoints."""
