"""Output encodings of a tracked frame: mask RLE, label image, debug overlay, 3D from depth, MP4.

Pure functions of a FrameResult and arrays; no ROS.
"""
