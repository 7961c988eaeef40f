"""The words of the synthetic world: named colours, shapes, and the noun phrases that prompt them."""

from __future__ import annotations

from dataclasses import dataclass

COLOURS = ("red", "green", "blue", "yellow")
PROMPT_SHAPES = ("circle", "square", "triangle")
# Rendered but never promptable: a "red cross" teaches that "red circle" is about the shape too.
DISTRACTOR_SHAPES = ("cross", "star")
ALL_SHAPES = PROMPT_SHAPES + DISTRACTOR_SHAPES

# Each named colour as OpenCV HSV ranges (hue 0-180, saturation and value 0-255) of the objects
# drawn in it: hue (centre, spread) and the lowest saturation and value. Wide, so that a model
# cannot key on one RGB value; narrow enough that neighbours never meet (orange, between red and
# yellow, is neither), and bright enough that yellow never turns olive or brown.
COLOUR_RANGES = {
    "red": ((0, 6), 150, 140),
    "yellow": ((29, 4), 150, 190),
    "green": ((60, 10), 130, 130),
    "blue": ((112, 10), 150, 130),
}


@dataclass(frozen=True)
class Concept:
    """What a prompt asks for: a shape, and a colour unless any colour will do."""

    shape: str
    colour: str | None = None

    def matches(self, colour: str, shape: str) -> bool:
        return shape == self.shape and (self.colour is None or colour == self.colour)

    @property
    def phrase(self) -> str:
        return self.shape if self.colour is None else f"{self.colour} {self.shape}"


def parse_prompt(phrase: str) -> Concept:
    """ "red circle" -> Concept("circle", "red"); "triangle" -> Concept("triangle")."""
    words = phrase.lower().split()
    if len(words) == 1 and words[0] in PROMPT_SHAPES:
        return Concept(words[0])
    if len(words) == 2 and words[0] in COLOURS and words[1] in PROMPT_SHAPES:
        return Concept(words[1], words[0])
    raise ValueError(
        f"'{phrase}' is not a prompt of the synthetic vocabulary: '<shape>' or '<colour> <shape>' "
        f"with a colour of {', '.join(COLOURS)} and a shape of {', '.join(PROMPT_SHAPES)}"
    )


def all_prompt_phrases() -> list[str]:
    """Every phrase the vocabulary can say: each shape alone, then each colour with each shape."""
    return list(PROMPT_SHAPES) + [f"{colour} {shape}" for colour in COLOURS for shape in PROMPT_SHAPES]


def category_names() -> list[str]:
    """One category per colour and shape, distractor shapes included; category ids are 1 + index."""
    return [f"{colour} {shape}" for colour in COLOURS for shape in ALL_SHAPES]
