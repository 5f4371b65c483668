"""Level 3: image-caption data from local files.

JSON lines, one image per line: `{"image": "images/NAME.jpg", "captions": [str, ...],
"split": "train"}` with the image path relative to the file (the layout of
`../shared/data/captioning/`, a Flickr8k subset). Bad lines (not JSON, a
missing image file, no usable caption) are counted and skipped, never fatal.
"""

import logging
import os

from kseq2seq.datasets.jsonl import read_json_lines

logger = logging.getLogger(__name__)


def load_caption_jsonl(path, split=None, limit=None):
    """Returns `(examples, report)`: `examples` are `(image_bytes, [captions])`, in file order.

    `split`: keep only lines whose `"split"` field equals it (None: all lines).
    """
    root = os.path.dirname(os.path.abspath(path))
    examples, bad, lines = [], {"invalid_json": 0, "missing_image": 0, "no_captions": 0}, 0
    for _, record, problem in read_json_lines(path):
        if limit is not None and len(examples) >= limit:
            break
        lines += 1
        if problem:
            bad["invalid_json"] += 1
            continue
        if not isinstance(record, dict) or (split is not None and record.get("split") != split):
            continue
        captions = [c for c in record.get("captions") or [] if isinstance(c, str) and c.strip()]
        image = os.path.join(root, str(record.get("image", "")))
        if not record.get("image") or not os.path.isfile(image):
            bad["missing_image"] += 1
            continue
        if not captions:
            bad["no_captions"] += 1
            continue
        with open(image, "rb") as f:
            examples.append((f.read(), captions))
    if sum(bad.values()):
        logger.warning("%s: skipped %s", path, {k: v for k, v in bad.items() if v})
    if not examples:
        raise ValueError(f"Expected at least one image with captions in {path!r} (split={split!r}). "
                         f"Received: {lines} lines, bad {bad}")
    return examples, {"path": path, "lines": lines, "kept": len(examples), "bad": bad}


def caption_pairs(examples):
    """`(image, [captions])` -> one `(image, caption)` training pair per caption."""
    return [(image, caption) for image, captions in examples for caption in captions]
