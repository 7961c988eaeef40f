"""One camera's stream: everything per stream, none of it on the model that streams share.

`ConceptTracker` (sam3_ros.engine.concept_tracker) puts these together for one camera: its
session and frame state (`session`), its concept prompts (`prompts`), the objects clicked on it
(`visual_objects`), all-or-nothing changes (`rollback`), the post-processing of its frames
(`frame_output`) and its snapshots (`snapshot`). Any number of streams run on one loaded model.
"""
