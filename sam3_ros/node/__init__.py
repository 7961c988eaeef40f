"""The ROS 2 shell around the engine: the lifecycle node, its services, and message conversion."""
