"""The engine: SAM 3 concept tracking on live streams (prompts, session, track ids, memory).

Per camera: `concept_tracker.ConceptTracker` and its stream (`stream/`); per node: the track id
counter (`track_ids.TrackIdAllocator`); per model: `streaming_sam3` and the batched detector and
tracker it runs, which keep nothing of a stream (docs/cameras.md).

No rclpy and no ROS message import anywhere below this package (checked by import-linter).
"""
