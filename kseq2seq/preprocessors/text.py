"""Level 2: text sources -> padded token ids, inside the tf.data / serving graph."""

import logging
import time

import keras
import tensorflow as tf

from kseq2seq import copying
from kseq2seq.preprocessors.base import Preprocessor, as_batch, pad_to_tensor, real_tokens
from kseq2seq.tokenizers import UNK, get_tokenizer_class
from kseq2seq.utils import check_bool, check_one_of, check_positive_int

logger = logging.getLogger(__name__)


@keras.saving.register_keras_serializable(package="kseq2seq")
class Seq2SeqPreprocessor(Preprocessor):
    """Tokenizes a batch of source (and target) strings for a text-to-text model.

    `preprocessor(source)` -> `{"encoder_token_ids", "encoder_padding_mask"}`;
    `preprocessor(source, target)` -> `(x, labels)` with
    `x = {"encoder_token_ids", "encoder_padding_mask", "decoder_token_ids", "decoder_padding_mask"}`
    (masks True at real tokens), where the decoder input
    is `[START] + target` and the labels are `target + [END]` (teacher
    forcing). Everything is padded with 0 to the longest sequence of the batch,
    after truncating sources to `source_length` and targets to
    `target_length` tokens (counting [END]). `truncate_source="start"` keeps
    a long source's last tokens instead of its first.

    With `copy_source_words=True` (pointer-generator models), `x` also holds
    `encoder_extended_ids` (the source in the target vocabulary extended with
    the source's unknown words, see `kseq2seq.copying`) and the labels use
    those extended ids, so that the model learns to copy unknown words.
    """

    def __init__(self, source_tokenizer, target_tokenizer, source_length=64, target_length=64,
                 copy_source_words=False, truncate_source="end", **kwargs):
        super().__init__(target_tokenizer, target_length, **kwargs)
        self.source_tokenizer = source_tokenizer
        self.source_length = check_positive_int("source_length", source_length)
        self.copy_source_words = check_bool("copy_source_words", copy_source_words)
        # "end" keeps a long source's first tokens; "start" keeps its last (a dialogue's latest turns).
        self.truncate_source = check_one_of("truncate_source", truncate_source, {"end", "start"})

    @classmethod
    def from_data(cls, sources, targets, config):
        """Vocabularies learned from the training texts with the preset's tokenizer and sizes."""
        return cls(
            *cls.learn_tokenizers(sources, targets, config),
            source_length=config["source_length"],
            target_length=config["target_length"],
            copy_source_words=config.get("pointer_generator", False),
            truncate_source=config.get("truncate_source", "end"),
        )

    @staticmethod
    def learn_tokenizers(sources, targets, config):
        """`(source, target)` tokenizers of the preset's kind and sizes, vocabularies learned from the texts.

        With the preset field `joint_vocabulary`, one vocabulary is learned
        from both sides and both tokenizers use it (for shared embeddings).
        """
        tokenizer_class = get_tokenizer_class(config["tokenizer"])
        args = {key: config[key] for key in ("max_vocabulary_size", "min_count", "lowercase")}
        start = time.monotonic()
        logger.info("Learning %s vocabularies (%s) from %s training pairs...",
                    "a joint" if config.get("joint_vocabulary") else "the source and target", config["tokenizer"],
                    f"{len(sources):,}" if hasattr(sources, "__len__") else "the")
        if check_bool("joint_vocabulary", config.get("joint_vocabulary", False)):
            joint = tokenizer_class.from_texts(list(sources) + list(targets), name="source_tokenizer", **args)
            tokenizers = joint, tokenizer_class(joint.vocabulary, lowercase=joint.lowercase, name="target_tokenizer")
        else:
            tokenizers = (tokenizer_class.from_texts(sources, name="source_tokenizer", **args),
                          tokenizer_class.from_texts(targets, name="target_tokenizer", **args))
        logger.info("Vocabularies learned in %.0f s: %s source and %s target tokens.", time.monotonic() - start,
                    f"{tokenizers[0].vocabulary_size:,}", f"{tokenizers[1].vocabulary_size:,}")
        return tokenizers

    @property
    def encoder_input_names(self):
        names = ("encoder_token_ids", "encoder_extended_ids")
        return names if self.copy_source_words else names[:1]

    def encoder_input_specs(self, batch=None):
        """Specs of the encoder inputs, for id-level signatures (int32 `[batch, length]`)."""
        return [tf.TensorSpec([batch, None], tf.int32, name=name) for name in self.encoder_input_names]

    def tokenize_source(self, source):
        """Source strings -> padded ids `[batch, length]`, length >= 1.

        A batch of empty strings still gets one (padding) position, so the
        encoder always has a step to run; its fully masked row encodes to zeros.
        """
        return pad_to_tensor(self._source_tokens(source)[1])

    def encode_source(self, source):
        """Source strings -> `(inputs, source_words)`: the model's encoder inputs (dense)
        and, when copying, the strings of the extended ids `[batch, n]` (else None)."""
        tokens, ids = self._source_tokens(source)
        inputs = {"encoder_token_ids": pad_to_tensor(ids), "encoder_padding_mask": pad_to_tensor(real_tokens(ids))}
        if not self.copy_source_words:
            return inputs, None
        extended, words = self._extend_source(tokens)
        inputs["encoder_extended_ids"] = pad_to_tensor(extended)
        return inputs, words.to_tensor(UNK)

    def encode_sources_for_training(self, sources):
        tokens, ids = self._source_tokens(sources)
        x = {"encoder_token_ids": ids, "encoder_padding_mask": real_tokens(ids)}
        if not self.copy_source_words:
            return x, None
        x["encoder_extended_ids"], words = self._extend_source(tokens)
        return x, words

    def label_ids(self, target_tokens, target_ids, words):
        if not self.copy_source_words:
            return target_ids
        return copying.extend_target(target_tokens, target_ids, words, self.target_tokenizer.vocabulary_size)

    def tokenizers(self):
        return {"source": self.source_tokenizer, "target": self.target_tokenizer}

    def describe(self):
        return {**super().describe(), "source_length": self.source_length, "truncate_source": self.truncate_source}

    def source_tokens(self, encoder_inputs, source_words, row):
        ids = [t for t in encoder_inputs["encoder_token_ids"][row].numpy().tolist() if t != 0]
        return [self.source_tokenizer.id_to_token(t) for t in ids]

    def pair_lengths(self, source, target):
        """Untruncated token counts `(source [batch], target [batch])` (target without [END])."""
        tokenizer = self.source_tokenizer
        source = tf.cast(tokenizer.split(tokenizer.standardize(as_batch(source, "sources"))).row_lengths(), tf.int32)
        return source, self.target_lengths(target)

    def fits(self, source, target):
        """Which pairs fit `source_length` / `target_length` without truncation."""
        source_lengths, target_lengths = self.pair_lengths(source, target)
        return (source_lengths <= self.source_length) & (target_lengths < self.target_length)

    def _source_tokens(self, source):
        tokenizer = self.source_tokenizer
        tokens = tokenizer.split(tokenizer.standardize(as_batch(source, "sources")))
        tokens = tokens[:, : self.source_length] if self.truncate_source == "end" else tokens[:, -self.source_length :]
        return tokens, tokenizer.lookup(tokens)

    def _extend_source(self, source_tokens):
        target_ids = self.target_tokenizer.lookup(source_tokens)
        return copying.extend_source(source_tokens, target_ids, self.target_tokenizer.vocabulary_size)

    def get_config(self):
        return {**super().get_config(), "source_length": self.source_length,
                "copy_source_words": self.copy_source_words, "truncate_source": self.truncate_source}


TextPreprocessor = Seq2SeqPreprocessor
