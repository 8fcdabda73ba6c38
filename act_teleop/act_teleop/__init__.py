"""Leader-follower teleoperation and episode recording into rosbag2."""
