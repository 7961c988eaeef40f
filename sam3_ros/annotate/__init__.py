"""`sam3-ros-annotate`: the engine over a video or a recording, written as MCAP, YouTube-VIS and MP4."""
