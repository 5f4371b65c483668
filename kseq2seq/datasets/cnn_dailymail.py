"""Level 3: CNN/DailyMail through tensorflow-datasets, without downloading anything.

tensorflow-datasets' `cnn_dailymail` builder (version 3.4.0) downloads its
sources from Google Drive and GitHub. Here the same builder reads them from
local files instead, in one of two ways:

1. `data_dir` already holds a prepared `cnn_dailymail/3.4.0/` (built by
   `tfds build cnn_dailymail` on a machine with internet, then copied):
   it is read as is.
2. `manual_dir` holds the original files, which are prepared once into
   `data_dir`:

       cnn_stories.tgz         (or its extracted cnn/stories/*.story)
       dailymail_stories.tgz   (or dailymail/stories/*.story); either or both
       all_train.txt  all_val.txt  all_test.txt   (URL lists, abisee/cnn-dailymail)

   A story belongs to the split whose URL list holds the URL whose SHA-1 hex
   digest is its file name, as in tfds and See et al.'s scripts.

Articles and highlights are cased raw text (tfds 3.x); highlight sentences
are joined by newlines. Stories with no article or no highlights, or that are
not UTF-8, are skipped, counted and logged, never fatal.
"""

import hashlib
import logging
import os

logger = logging.getLogger(__name__)

VERSION = "3.4.0"
SPLITS = {"train": "all_train.txt", "validation": "all_val.txt", "test": "all_test.txt"}
PUBLISHERS = {"cnn": ("cnn_stories.tgz", os.path.join("cnn", "stories")),
              "dm": ("dailymail_stories.tgz", os.path.join("dailymail", "stories"))}
MANUAL_INSTRUCTIONS = (
    "Place in the manual directory: cnn_stories.tgz and/or dailymail_stories.tgz (or their extracted "
    "cnn/stories/ and dailymail/stories/ folders) and the URL lists all_train.txt, all_val.txt and all_test.txt "
    "from https://github.com/abisee/cnn-dailymail/tree/master/url_lists."
)


def url_hash(url):
    return hashlib.sha1(url.strip().encode("utf-8")).hexdigest()


def read_story(data):
    """Story file bytes -> `(article, highlights)`, following tfds' `_get_art_abs` (3.x, cased)."""
    from tensorflow_datasets.summarization import cnn_dailymail as tfds_cnn

    lines = [line.strip() for line in data.decode("utf-8").splitlines()]
    article, highlights, next_is_highlight = [], [], False
    for line in lines:
        if not line:
            continue
        if line.startswith("@highlight"):
            next_is_highlight = True
            continue
        if line[-1] not in tfds_cnn.END_TOKENS:
            line += "."  # image captions and the like end without a period
        (highlights if next_is_highlight else article).append(line)
    return " ".join(article), "\n".join(highlights)


def _builder_class():
    import tensorflow_datasets as tfds
    from tensorflow_datasets.summarization import cnn_dailymail as tfds_cnn

    class LocalCnnDailymail(tfds_cnn.CnnDailymail, skip_registration=True):
        """tfds' `cnn_dailymail` with its sources read from `manual_dir`; same name, version and features."""

        name = "cnn_dailymail"
        MANUAL_DOWNLOAD_INSTRUCTIONS = MANUAL_INSTRUCTIONS

        def _split_generators(self, dl_manager):
            root = dl_manager.manual_dir
            folders = {}
            for publisher, (archive, sub) in PUBLISHERS.items():
                if (root / sub).is_dir():
                    folders[publisher] = root / sub
                elif (root / archive).exists():
                    folders[publisher] = dl_manager.extract(root / archive) / sub
            if not folders:
                raise FileNotFoundError(f"Expected story archives in manual_dir={os.fspath(root)!r}. {MANUAL_INSTRUCTIONS}")
            generators = []
            for split, url_file in SPLITS.items():
                if not (root / url_file).exists():
                    raise FileNotFoundError(f"Expected {url_file} in manual_dir={os.fspath(root)!r}. {MANUAL_INSTRUCTIONS}")
                hashes = {url_hash(u) for u in (root / url_file).read_text().split("\n") if u.strip()}
                files = [
                    (publisher, folder / name)
                    for publisher, folder in sorted(folders.items())
                    for name in sorted(os.listdir(folder))
                    if name.endswith(".story") and name[: -len(".story")] in hashes
                ]
                generators.append(tfds.core.SplitGenerator(name=split, gen_kwargs={"files": files, "split": split}))
            return generators

        def _generate_examples(self, files, split):
            bad = {"not_utf8": 0, "empty_article": 0, "empty_highlights": 0}
            for publisher, path in files:
                try:
                    article, highlights = read_story(path.read_bytes())
                except UnicodeDecodeError:
                    bad["not_utf8"] += 1
                    continue
                if not article or not highlights:
                    bad["empty_article" if not article else "empty_highlights"] += 1
                    continue
                story_id = path.name[: -len(".story")]
                yield path.name, {"article": article, "highlights": highlights, "publisher": publisher, "id": story_id}
            if sum(bad.values()):
                logger.warning("cnn_dailymail %s: skipped %d stories %s", split, sum(bad.values()), bad)

    return LocalCnnDailymail


def load_cnn_dailymail(split="test", data_dir=None, manual_dir=None, limit=None):
    """Reads one split as a list of `(article, highlights)` pairs (see the module docstring)."""
    import tensorflow_datasets as tfds

    if split not in SPLITS:
        raise ValueError(f"Expected split to be one of {sorted(SPLITS)}. Received: split={split!r}")
    builder = _builder_class()(data_dir=data_dir)
    if not builder.is_prepared():
        if manual_dir is None:
            raise FileNotFoundError(
                f"Expected a prepared cnn_dailymail/{VERSION} in data_dir={builder.data_dir!r}, or manual_dir "
                f"with the original files. {MANUAL_INSTRUCTIONS}"
            )
        if not os.path.isdir(manual_dir):
            raise FileNotFoundError(f"Expected manual_dir to be a directory. Received: manual_dir={manual_dir!r}")
        builder.download_and_prepare(download_config=tfds.download.DownloadConfig(manual_dir=manual_dir))
    dataset = builder.as_dataset(split=split if limit is None else f"{split}[:{limit}]")
    return [(r["article"].decode("utf-8"), r["highlights"].decode("utf-8")) for r in dataset.as_numpy_iterator()]
