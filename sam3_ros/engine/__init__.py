"""The engine: SAM 3 concept tracking on a live stream (prompts, session, track ids, memory).

No rclpy and no ROS message import anywhere below this package (checked by import-linter).
"""
