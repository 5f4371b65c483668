"""Level 3: image-caption data from local files.

JSON lines, one image per line: `{"image": "images/NAME.jpg", "captions": [str, ...],
"split": "train"}` with the image path relative to the file (the layout of
`../shared/data/captioning/`, a Flickr8k subset). Bad lines (not JSON, a
missing image file, no usable caption) are counted and skipped, never fatal.
"""

import os

from kseq2seq.datasets.jsonl import read_examples


def load_caption_jsonl(path, split=None, limit=None):
    """Returns `(examples, report)`: `examples` are `(image_bytes, [captions])`, in file order.

    `split`: keep only lines whose `"split"` field equals it (None: all lines).
    """
    root = os.path.dirname(os.path.abspath(path))

    def example(record):
        if split is not None and record.get("split") != split:
            return None
        image = os.path.join(root, str(record.get("image", "")))
        if not record.get("image") or not os.path.isfile(image):
            return "missing_image"
        captions = [c for c in record.get("captions") or [] if isinstance(c, str) and c.strip()]
        if not captions:
            return "no_captions"
        with open(image, "rb") as f:
            return f.read(), captions

    return read_examples(path, example, ("invalid_json", "missing_image", "no_captions"),
                         f"at least one image with captions (split={split!r})", limit)


def caption_pairs(examples):
    """`(image, [captions])` -> one `(image, caption)` training pair per caption."""
    return [(image, caption) for image, captions in examples for caption in captions]
