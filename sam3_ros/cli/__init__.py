"""sam3ctl: the operator's command line for a running sam3 node (prompts, lifecycle, live view).

It talks ROS 2 like any client (service calls, topic subscriptions), so it works wherever rclpy
and this package's messages are importable: in a ROS distro workspace and in the pip environment of
scripts/setup.sh, which has no `ros2` command.
"""
