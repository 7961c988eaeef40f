"""What the node does when a frame runs out of memory: skip it, and after a run of them, track fewer objects.

SAM 3's memory grows with the number of tracked objects, so an out-of-memory error that repeats
frame after frame would otherwise repeat for ever. Halving the object caps trades objects for a
node that keeps running; the operator sees it in the log and in diagnostics. No torch import: the
error is recognised by type name and message, so this stays a pure policy.
"""

from __future__ import annotations

from dataclasses import dataclass

# torch.OutOfMemoryError (CUDA, MPS) and the CPU allocator's RuntimeError ("DefaultCPUAllocator:
# can't allocate memory: you tried to allocate ..."), numpy's MemoryError.
_OOM_TYPE_NAMES = ("OutOfMemoryError", "MemoryError")
_OOM_PHRASES = ("out of memory", "can't allocate memory", "cannot allocate memory", "failed to allocate")


def is_out_of_memory(error: BaseException) -> bool:
    if any(cls.__name__ in _OOM_TYPE_NAMES for cls in type(error).__mro__):
        return True
    if isinstance(error, RuntimeError):
        message = str(error).lower()
        return any(phrase in message for phrase in _OOM_PHRASES)
    return False


@dataclass(frozen=True)
class FrameFailure:
    """What the node reports about a failed frame, without the exception.

    The exception's traceback references every frame of the failed call and so its tensors: the
    node frees memory (gc, the CUDA cache) only once the exception is gone, keeping this instead.
    """

    description: str
    out_of_memory: bool

    @classmethod
    def from_error(cls, error: BaseException) -> FrameFailure:
        return cls(repr(error), is_out_of_memory(error))


@dataclass(frozen=True)
class ObjectCaps:
    total: int
    per_prompt: int


class OutOfMemoryBackoff:
    """Counts consecutive out-of-memory frames; every `streak` of them halves the object caps (not below 1)."""

    def __init__(self, streak: int):
        if streak < 1:
            raise ValueError("streak must be at least 1")
        self.streak = streak
        self.consecutive = 0
        self.total = 0

    def frame_succeeded(self) -> None:
        self.consecutive = 0

    def out_of_memory(self, caps: ObjectCaps) -> ObjectCaps | None:
        """Record one out-of-memory frame; the lowered caps when it completes a streak, else None.

        None too when the caps are already 1 and 1: there is nothing left to lower.
        """
        self.consecutive += 1
        self.total += 1
        if self.consecutive < self.streak:
            return None
        self.consecutive = 0
        lowered = ObjectCaps(max(1, caps.total // 2), max(1, caps.per_prompt // 2))
        return None if lowered == caps else lowered
