"""Level 3: how a task decodes: raw inputs -> strings (or detail records), with its `GenerationConfig`.

`generate`, every export signature and the command line go through
`decode_strings` / `generate_ids` with a `GenerationConfig`, so they decode
alike. The task never sees beams: `decoding.decode` takes the backbone's
memory and tiles it itself.
"""

import collections
import types

import tensorflow as tf

from kseq2seq import decoding
from kseq2seq.tokenizers import END_ID, PAD_ID, START_ID, UNK_ID
from kseq2seq.utils import check_bool, check_positive_int

Generation = collections.namedtuple(
    "Generation", ["text", "score", "texts", "scores", "output_tokens", "source_tokens", "attention"])
Generation.__doc__ = """One input's result from `generate(..., return_details=True)`.

- `text`, `score`: the best output and its score (sum of log-probabilities;
  length-normalised for beam search);
- `texts`, `scores`: the n-best list, best first (one entry unless `nbest > 1`);
- `output_tokens`: the best output's tokens up to `[END]`;
- `source_tokens`: the source's tokens (None where the source is not text);
- `attention`: with `return_attention=True`, the best output's attention
  weights `[output tokens, source positions]` (an image task's are
  `[output tokens, grid height, grid width]`), else None.
"""


class GenerationMixin:
    """`generate`, `generate_ids` and `decode_strings` of `Seq2SeqTask`."""

    def _init_generation(self):
        # A plain holder, not a dict attribute: Keras/TF would track a dict of
        # tf.functions, which breaks saving and export.
        self._generate_cache = types.SimpleNamespace(functions={})

    def generation_options(self, **options):
        """The task's `GenerationConfig` with `options` (None = unset) merged over it, validated."""
        config = self.generation_config.replace(**options)
        if config.rerank and self.reranking_penalties is None:
            raise ValueError(f"Expected rerank=False: {type(self).__name__} has no reranker. Received: rerank=True")
        if config.min_length >= (config.max_length or self.max_length):
            raise ValueError(f"Expected min_length < max_length ({config.max_length or self.max_length}). "
                             f"Received: min_length={config.min_length}")
        check_decoding_length(self.backbone, config.max_length or self.max_length)
        return config

    def bad_word_ids(self, config):
        """The config's `bad_words` as target token id sequences (tokenized eagerly, also while tracing)."""
        if not config.bad_words:
            return ()
        with tf.init_scope():
            ids = self.preprocessor.target_tokenizer.tokenize(tf.constant(config.bad_words)).to_list()
        # A phrase with a word outside the vocabulary cannot be generated; banning its [UNK] would ban more.
        return tuple(tuple(word) for word in ids if word and UNK_ID not in word)

    def generate_ids(self, encoder_inputs, config=None, return_attention=False, seed=None, prefix=None,
                     **options):
        """Decodes in graph: encoder inputs -> `decoding.Decoded` with an n-best axis.

        `encoder_inputs`: encoder ids `[batch, S]`, or the dict of encoder
        inputs from `preprocessor.encode_source` (pointer-generators need it:
        their output ids from the target vocabulary size on are copied source words).
        `config`: a `GenerationConfig` (default: the task's), with `options` merged over it.
        `seed`: a tensor seed for sampling that overrides the config's (one trace for every seed).
        `prefix`: target ids `[batch, P]` (0-padded) each output starts with.

        `token_ids [batch, nbest, max_length]`, `scores [batch, nbest]` and, with
        `return_attention`, `attention [batch, nbest, max_length, S]`.
        """
        config = (config or self.generation_config).replace(**options)
        check_decoding_length(self.backbone, config.max_length or self.max_length)
        # [PAD] and [START] are never correct outputs; an undertrained model
        # may still rank them first, so they are ruled out. So is [UNK] when
        # asked: a caption or reply with "[UNK]" in it is of no use to a reader.
        never = [PAD_ID, START_ID] + ([] if config.allow_unknown else [UNK_ID])
        memory, state = self.backbone.encode(encoder_inputs)
        batch_size = tf.shape(tf.nest.flatten(memory)[0])[0]

        def step_fn(token_ids, state, memory):
            logits, state, weights = self.backbone.step(token_ids, state, memory)
            ruled_out = tf.reduce_sum(tf.one_hot(never, tf.shape(logits)[-1], on_value=-1e9), axis=0)
            return logits + tf.cast(ruled_out, logits.dtype), state, weights

        return decoding.decode(step_fn, state, batch_size, START_ID, END_ID, memory=memory,
                               seed=config.seed if seed is None else seed, return_attention=return_attention,
                               bad_words=self.bad_word_ids(config), prefix=prefix,
                               **config.decoding_args(self.max_length))

    def decode_strings(self, inputs, config=None, return_attention=False, seed=None, prefix=None):
        """In graph: a batch of raw inputs (strings or encoded bytes) -> a dict of tensors.

        `prefix`: strings `[batch]` each output starts with ("" for none), tokenized by the target tokenizer.

        `texts [batch, nbest]`, `scores [batch, nbest]`, `token_ids [batch, nbest, max_length]`,
        the `encoder_inputs`, `source_words` (copying models) and, with `return_attention`, `attention`.
        """
        config = config or self.generation_config
        inputs = tf.convert_to_tensor(inputs, self.preprocessor.input_dtype)
        encoder_inputs, source_words = self.preprocessor.encode_source(inputs)
        rerank = config.rerank and config.sampler == "beam"
        search = config.replace(nbest=config.num_beams) if rerank else config
        if prefix is not None:
            prefix = self.preprocessor.target_tokenizer.tokenize(prefix).to_tensor()
        out = self.generate_ids(encoder_inputs, search, return_attention=return_attention, seed=seed, prefix=prefix)
        if rerank:
            out = self._rerank(inputs, out, config.nbest)
        texts, scores, token_ids = self.preprocessor.detokenize(out.token_ids, source_words), out.scores, out.token_ids
        if inputs.dtype == tf.string:
            # A blank input has nothing to translate: its output is "" (score 0, ids [END]), not what the
            # model invents.
            blank = (tf.strings.strip(inputs) == "")[:, tf.newaxis]
            texts, scores = tf.where(blank, "", texts), tf.where(blank, 0.0, scores)
            only_end = tf.one_hot(0, tf.shape(token_ids)[-1], on_value=END_ID, off_value=PAD_ID, dtype=token_ids.dtype)
            token_ids = tf.where(blank[:, :, tf.newaxis], only_end, token_ids)
        result = {"texts": texts, "scores": scores, "token_ids": token_ids, "encoder_inputs": encoder_inputs}
        if source_words is not None:
            result["source_words"] = source_words
        if out.attention is not None:
            result["attention"] = out.attention
        return result

    # A task with a reranker sets this to a method `(inputs, token_ids [batch, beams, length])
    # -> penalties [batch, beams]`, lower is better, computed in graph.
    reranking_penalties = None

    def _rerank(self, inputs, out, nbest):
        """The beam's hypotheses reordered by the task's penalties (stable: ties keep the beam's order)."""
        penalties = self.reranking_penalties(inputs, out.token_ids)
        order = tf.argsort(penalties, axis=1, stable=True)[:, :nbest]
        pick = lambda tensor: None if tensor is None else tf.gather(tensor, order, axis=1, batch_dims=1)
        return out._replace(token_ids=pick(out.token_ids), scores=pick(out.scores), attention=pick(out.attention))

    def _generate_function(self, config, return_attention, with_prefix=False):
        """One traced `tf.function` per decoding configuration; the seed (and prefixes) are tensor arguments."""
        key = (config.replace(seed=0), return_attention, with_prefix)
        functions = self._generate_cache.functions
        if key not in functions:
            signature = [tf.TensorSpec([None], self.preprocessor.input_dtype), tf.TensorSpec([], tf.int32),
                         tf.TensorSpec([None] if with_prefix else [0], tf.string)]

            @tf.function(input_signature=signature)
            def generate_strings(inputs, seed, prefix):
                return self.decode_strings(inputs, config, return_attention=return_attention, seed=seed,
                                           prefix=prefix if with_prefix else None)

            functions[key] = generate_strings
        return functions[key]

    def generate(self, inputs, batch_size=64, return_details=False, return_attention=False, prefix=None, **options):
        """Decodes a batch of inputs (a list), inside one `tf.function` per batch.

        Args:
            inputs: a list of sources: strings for text tasks, conversations
                (lists of turns) for a `Responder`, encoded images or paths
                for a `Captioner`.
            **options: `GenerationConfig` fields for this call (`sampler`,
                `num_beams`, `length_penalty`, `nbest`, `temperature`,
                `top_k`, `top_p`, `seed`, `min_length`, `max_length`,
                `allow_unknown`); those left out (or None) take the task's
                `generation_config`, from its preset.
            return_details: return one `Generation` record per input (scores,
                the n-best list, tokens) instead of its best string.
            return_attention: also fill the records' `attention` (implies `return_details`).
            prefix: a string every output starts with, or one per input
                ("" for none): its tokens are forced, decoding goes on after
                them, and the output includes them (OpenNMT's target prefix).

        Returns:
            a list with one string per input (the best output), or with
            `return_details`, one `Generation` per input.
        """
        check_positive_int("batch_size", batch_size)
        check_bool("return_details", return_details)
        check_bool("return_attention", return_attention)
        config = self.generation_options(**options)
        batch = self.format_sources(inputs)
        prefixes = _check_prefix(prefix, len(batch))
        function = self._generate_function(config, return_attention, with_prefix=prefixes is not None)
        details = return_details or return_attention
        outputs = [None] * len(batch)
        # Sampled draws hash a row's batch position, so sampling keeps the input order an export sees.
        order = list(range(len(batch))) if config.sampler == "sample" else _by_length(batch)
        for start in range(0, len(batch), batch_size):
            rows = order[start : start + batch_size]
            try:
                result = function(tf.constant([batch[i] for i in rows], dtype=self.preprocessor.input_dtype),
                                  tf.constant(config.seed, tf.int32),
                                  tf.constant([] if prefixes is None else [prefixes[i] for i in rows], tf.string))
            except tf.errors.InvalidArgumentError as error:
                raise ValueError(f"Could not read {_rows_name(rows)}: {error.message.splitlines()[0]}") from None
            texts = None if details else result["texts"][:, 0].numpy()
            for row, i in enumerate(rows):
                outputs[i] = self._details(result, row) if details else texts[row].decode("utf-8")
        return outputs

    def _details(self, result, row):
        texts = [text.decode("utf-8") for text in result["texts"][row].numpy()]
        scores = [float(score) for score in result["scores"][row].numpy()]
        output_ids = result["token_ids"][row, 0].numpy().tolist()
        length = output_ids.index(END_ID) + 1 if END_ID in output_ids else len(output_ids)
        source_tokens = self.preprocessor.source_tokens(result["encoder_inputs"], result.get("source_words"), row)
        attention = None
        if "attention" in result:
            weights = result["attention"][row, 0, :length].numpy()
            if source_tokens is not None:
                weights = weights[:, : len(source_tokens)]
            attention = self.preprocessor.attention_map(weights)
        output_tokens = [self._output_token(t, result, row) for t in output_ids[:length]]
        return Generation(texts[0], scores[0], texts, scores, output_tokens, source_tokens, attention)

    def _output_token(self, token_id, result, row):
        size = self.preprocessor.target_tokenizer.vocabulary_size
        if token_id < size:
            return self.preprocessor.target_tokenizer.id_to_token(token_id)
        return result["source_words"][row, token_id - size].numpy().decode("utf-8")


def _by_length(batch):
    """Input positions, shortest first: a batch of like lengths pads less and its decoding loop ends sooner.

    Rows are decoded independently (fairseq and OpenNMT sort too); only floating-point rounding may differ
    with a row's batch-mates, as it does with any change of `batch_size`.
    """
    return sorted(range(len(batch)), key=lambda i: len(batch[i]) if isinstance(batch[i], (str, bytes)) else 0)


def _rows_name(rows):
    rows = sorted(rows)
    if rows == list(range(rows[0], rows[-1] + 1)):
        return f"inputs[{rows[0]}:{rows[-1] + 1}]"
    return f"one of inputs {rows}"


def _check_prefix(prefix, count):
    """`generate`'s prefix: None, one string for every input, or one per input."""
    if prefix is None:
        return None
    prefixes = [prefix] * count if isinstance(prefix, str) else prefix
    if not isinstance(prefixes, (list, tuple)) or not all(isinstance(p, str) for p in prefixes):
        raise TypeError(f"Expected prefix to be a string or a list of strings. Received: {type(prefix).__name__}")
    if len(prefixes) != count:
        raise ValueError(f"Expected one prefix per input ({count}). Received: {len(prefixes)} prefixes")
    return list(prefixes)


def check_decoding_length(backbone, max_length):
    """A backbone with position embeddings (`max_decoding_length`) cannot decode past them."""
    limit = getattr(backbone, "max_decoding_length", None)
    if limit is not None and max_length > limit:
        raise ValueError(f"Expected max_length <= {limit}, the target positions of the "
                         f"{type(backbone).__name__}. Received: max_length={max_length}")
