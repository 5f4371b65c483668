"""Level 3: the built-in captioning set: generated scenes of two coloured shapes, with captions.

Each image (64 x 64 RGB PNG by default) holds two shapes, side by side or one
above the other, with a little jitter in size and position; its caption names
both and their relation: "a red circle left of a blue square", "a green
triangle above a yellow circle". Every example is a pure function of the
seed; splits never share an image.
"""

import random

import numpy as np

from kseq2seq.utils import check_positive_int

COLOURS = {"red": (220, 40, 40), "green": (40, 180, 60), "blue": (50, 80, 230), "yellow": (235, 210, 40)}
SHAPES = ("circle", "square", "triangle")


def _draw(canvas, shape, colour, cx, cy, radius):
    size = canvas.shape[0]
    ys, xs = np.mgrid[0:size, 0:size]
    if shape == "circle":
        inside = (xs - cx) ** 2 + (ys - cy) ** 2 <= radius**2
    elif shape == "square":
        inside = (abs(xs - cx) <= radius * 0.85) & (abs(ys - cy) <= radius * 0.85)
    else:  # triangle pointing up: below the two slanted edges, above the base
        inside = (ys <= cy + radius * 0.8) & (ys >= cy - radius) & (abs(xs - cx) <= (ys - (cy - radius)) * 0.6)
    canvas[inside] = COLOURS[colour]


def make_scene(rng, image_size=64):
    """One `(image uint8 [size, size, 3], caption)`."""
    (shape_a, colour_a), (shape_b, colour_b) = rng.sample([(s, c) for s in SHAPES for c in COLOURS], 2)
    canvas = np.full((image_size, image_size, 3), 245, np.uint8)
    quarter, jitter = image_size / 4, image_size / 16
    radius = image_size * rng.uniform(0.14, 0.2)
    horizontal = rng.random() < 0.5
    centres = [(quarter, 2 * quarter), (3 * quarter, 2 * quarter)]
    if not horizontal:
        centres = [(y, x) for x, y in centres]
    for (shape, colour), (cx, cy) in zip(((shape_a, colour_a), (shape_b, colour_b)), centres):
        cx, cy = (c + rng.uniform(-jitter, jitter) for c in (cx, cy))
        _draw(canvas, shape, colour, cx, cy, radius)
    relation = "left of" if horizontal else "above"
    return canvas, f"a {colour_a} {shape_a} {relation} a {colour_b} {shape_b}"


def encode_png(image):
    import tensorflow as tf

    return tf.io.encode_png(image).numpy()


def load_shapes(num_train=4000, num_validation=200, num_test=200, image_size=64, seed=0):
    """`(train, validation, test)` lists of `(png_bytes, caption)`, disjoint by image."""
    for name, value in (("num_train", num_train), ("num_validation", num_validation), ("num_test", num_test)):
        check_positive_int(name, value, minimum=0)
    check_positive_int("image_size", image_size, minimum=16)
    rng = random.Random(seed)
    seen, examples = set(), []
    while len(examples) < num_train + num_validation + num_test:
        image, caption = make_scene(rng, image_size)
        key = image.tobytes()
        if key not in seen:
            seen.add(key)
            examples.append((encode_png(image), caption))
    a, b = num_train, num_train + num_validation
    return examples[:a], examples[a:b], examples[b:]
