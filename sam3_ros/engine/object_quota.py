"""Which new detections may start a track, so that no prompt can starve the others."""

from __future__ import annotations

from collections import Counter


def admit_new_detections(
    candidates: list[int],
    scores: list[float],
    candidate_prompts: list[int],
    tracked_prompts: list[int],
    max_per_prompt: int,
    max_total: int,
) -> list[int]:
    """Return the subset of `candidates` (detection indices) allowed to become new tracks.

    `scores[i]` and `candidate_prompts[i]` describe `candidates[i]`; `tracked_prompts` holds the
    prompt of every object already tracked. Each prompt gets at most `max_per_prompt` objects;
    when the total cap is tighter than what all prompts want, free slots are dealt out round-robin
    over the prompts, best score first, so one busy prompt cannot take every slot (SAM 3's own
    cap is global and first-come).
    """
    per_prompt_count = Counter(tracked_prompts)
    wanted: dict[int, list[tuple[float, int]]] = {}
    for det_index, score, prompt_id in sorted(zip(candidates, scores, candidate_prompts), key=lambda c: -c[1]):
        queue = wanted.setdefault(prompt_id, [])
        if per_prompt_count[prompt_id] + len(queue) < max_per_prompt:
            queue.append((score, det_index))
    free = max(0, max_total - len(tracked_prompts))
    admitted: list[int] = []
    queues = [wanted[p] for p in sorted(wanted, key=lambda p: per_prompt_count[p])]
    while free > 0 and any(queues):
        for queue in queues:
            if queue and free > 0:
                admitted.append(queue.pop(0)[1])
                free -= 1
    return sorted(admitted)
