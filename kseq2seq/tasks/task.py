"""Level 3: the shared task: a preprocessor + backbone that fits, generates and exports from raw inputs.

A task is a functional Keras model with the backbone's inputs and outputs,
so `fit`, `evaluate`, `save` and `keras.models.load_model` behave as for
any Keras model. It adds three things: raw `(source, target)` datasets are
preprocessed in the tf.data graph, `generate` decodes raw inputs inside one
`tf.function` with the task's `GenerationConfig`, and `from_preset` builds a
ready model from a preset (a dict naming its preprocessor, backbone, sizes
and defaults) and training data, or restores a saved preset folder.

A task module is presets, docs and at most a source formatter
(`format_source`): the modality lives in its preprocessor and backbone.
"""

import os

import keras
import tensorflow as tf

from kseq2seq.batching import batch_dataset
from kseq2seq.generation import GenerationConfig
from kseq2seq.layers.initialization import initialize_uniformly
from kseq2seq.layers.padding import OptionalMasks
from kseq2seq.losses import MaskedCrossEntropy, masked_accuracy
from kseq2seq.models import Seq2SeqBackbone, TransformerBackbone
from kseq2seq.preprocessors import Seq2SeqPreprocessor
from kseq2seq.runtime import prepare_for_training
from kseq2seq.schedules import WarmupInverseSqrt
from kseq2seq.tasks.generating import GenerationMixin
from kseq2seq.utils import check_fraction, check_positive_int, set_dtype_policy


# Training options every preset takes, named or not: label smoothing (0 = off); with warm-up steps, the
# `WarmupInverseSqrt` schedule peaking at the preset's learning_rate (None = a constant rate); and
# param_init, OpenNMT's U(-param_init, param_init) for every trainable weight (0 = Keras' initializers).
TRAINING_FIELDS = {"label_smoothing": 0.0, "warmup_steps": None, "param_init": 0.0}


def optimizer_from_config(config):
    """Adam at the preset's rate (or its warm-up schedule), clipped at its `clipnorm`."""
    rate = config["learning_rate"]
    if config.get("warmup_steps"):
        rate = WarmupInverseSqrt(rate, config["warmup_steps"])
    return keras.optimizers.Adam(rate, clipnorm=config["clipnorm"])


class Seq2SeqTask(GenerationMixin, OptionalMasks, keras.Model):
    """Base of every task; subclasses add presets, docs and at most a source formatter.

    Class attributes a subclass may set:
        presets: name -> preset dict.
        preprocessors / backbones: the names a preset's `"preprocessor"` /
            `"backbone"` field may take (the first is the default).
    """

    presets = {}
    preprocessors = {"text": Seq2SeqPreprocessor}
    backbones = {"rnn": Seq2SeqBackbone, "transformer": TransformerBackbone}

    def __init__(self, backbone, preprocessor, max_length=32, preset=None, generation_config=None, **kwargs):
        # === Functional Model ===
        inputs = backbone.input
        dtype = kwargs.pop("dtype", None)
        super().__init__(inputs=inputs, outputs=backbone(inputs), **kwargs)
        set_dtype_policy(self, dtype)
        # === Config ===
        self.backbone = backbone
        self.preprocessor = preprocessor
        self.max_length = check_positive_int("max_length", max_length)
        self.preset = preset
        if not isinstance(generation_config, GenerationConfig):
            generation_config = GenerationConfig.from_dict(generation_config)
        self.generation_config = generation_config
        limit = generation_config.max_length or self.max_length
        if generation_config.min_length >= limit:  # caught here, not at the first generate
            raise ValueError(f"Expected min_length < max_length ({limit}). "
                             f"Received: min_length={generation_config.min_length}")
        self._init_generation()

    # --- building -------------------------------------------------------
    @classmethod
    def from_preset(cls, preset, train_texts=None, **overrides):
        """Builds a task from a preset.

        Args:
            preset: a name in `cls.presets` (an untrained task, whose
                vocabularies are learned from `train_texts`), or a folder
                written by `save_to_preset` (the trained task it holds).
            train_texts: the training `(source, target)` pairs (a
                `tf.data.Dataset` or a list of pairs); only for a preset name.
            **overrides: any preset field, e.g. `units=256`, `tokenizer="word"`.
        """
        from kseq2seq import saving  # same level; lazy, as saving restores tasks

        if saving.is_preset_folder(preset):
            return saving.load_preset(preset, cls, train_texts=train_texts, **overrides)
        if train_texts is None:
            raise ValueError(f"Expected train_texts for the untrained preset {preset!r}. Received: None")
        config = cls.preset_config(preset, **overrides)
        sources, targets = split_pairs(train_texts)
        sources = [cls.format_source(s, config) for s in sources]
        preprocessor = cls._component("preprocessor", cls.preprocessors, config).from_data(sources, targets, config)
        backbone = cls._component("backbone", cls.backbones, config).from_preset_config(config, preprocessor)
        initialize_uniformly(backbone, config.get("param_init", 0.0))
        generation = {k: config[k] for k in GenerationConfig.fields() if k in config and k != "max_length"}
        task = cls(backbone, preprocessor, max_length=config["max_length"], preset=preset,
                   generation_config=generation, **cls.task_arguments(config))
        task.compile(optimizer=optimizer_from_config(config),
                     loss=MaskedCrossEntropy(label_smoothing=config.get("label_smoothing", 0.0)))
        return task

    @classmethod
    def _component(cls, field, choices, config):
        name = config.get(field, next(iter(choices)))
        if name not in choices:
            raise ValueError(f"Expected {field} to be one of {sorted(choices)} for {cls.__name__}. "
                             f"Received: {field}={name!r}")
        return choices[name]

    @classmethod
    def format_source(cls, source, config):
        """A source as the preprocessor takes it; subclasses turn richer inputs (a conversation) into one."""
        return source

    def format_sources(self, sources):
        """Raw inputs (a batch) -> what `tf.constant` takes, formatted and checked by the preprocessor."""
        if isinstance(sources, (str, bytes)) or not isinstance(sources, (list, tuple)):
            raise TypeError(f"Expected inputs to be a batch (a list). Received: {type(sources).__name__}; "
                            "wrap a single input in a list")
        # Constructor arguments are attributes of the same name, so the task's own values fill the config.
        config = self.task_arguments(vars(self))
        formatted = []
        for i, source in enumerate(sources):
            try:
                formatted.append(self.format_source(source, config))
            except (TypeError, ValueError) as error:
                raise type(error)(f"inputs[{i}]: {error}") from None
        return self.preprocessor.prepare(formatted)

    def _pairs_dataset(self, pairs):
        sources, targets = split_pairs(pairs)
        return tf.data.Dataset.from_tensor_slices((self.format_sources(sources), targets))

    @classmethod
    def task_arguments(cls, config):
        """Constructor arguments a subclass takes from its preset config."""
        return {}

    @classmethod
    def preset_config(cls, preset, **overrides):
        if preset not in cls.presets:
            raise ValueError(f"Expected preset to be one of {sorted(cls.presets)} or a saved preset folder. "
                             f"Received: preset={preset!r}")
        config = dict(cls.presets[preset])
        # Every decoding default may be set, whether or not the preset names it.
        known = set(config) | set(GenerationConfig.fields()) | set(TRAINING_FIELDS)
        unknown = sorted(set(overrides) - known)
        if unknown:
            raise ValueError(f"Expected overrides among {sorted(known)}. Received unknown: {unknown}")
        config.update(overrides)
        check_fraction("param_init", config.get("param_init", 0.0), 0.0, 1.0, include_high=True)  # before any vocabulary
        return config

    def compile(self, optimizer="adam", loss=None, metrics=None, **kwargs):
        """Defaults: Adam, the masked cross-entropy of `kseq2seq.losses` and masked token accuracy."""
        loss = MaskedCrossEntropy() if loss is None else loss
        super().compile(optimizer=optimizer, loss=loss, metrics=metrics or [masked_accuracy], **kwargs)

    def compile_from_config(self, config):
        # Keras skips (with a warning) restoring compile state for models that
        # override `compile`; ours keeps Keras' signature, so restore it.
        self.compile(**keras.saving.deserialize_keras_object(config))
        if self.built:
            self.optimizer.build(self.trainable_variables)

    # --- training -------------------------------------------------------
    def make_dataset(self, data, batch_size=64, shuffle=False, seed=None, bucket_boundaries=None, batch_tokens=None,
                     drop_long=False, pad_to_multiple_of=None):
        """Raw `(source, target)` pairs -> batched, tokenized, prefetched dataset.

        Accepts a list of pairs or a `tf.data.Dataset` of string pairs. Unbatched
        data is tokenized once and cached as ids (`tokenize_dataset`), then
        shuffled (optional) and batched (`batch_dataset`). Already batched string
        pairs are tokenized batch by batch; a dataset that already yields token
        ids is returned unchanged.

        `pad_to_multiple_of`: see `batch_dataset` (for a training loop compiled
        with XLA; Keras' `fit` does not compile tasks with XLA, as their
        tokenizers' `StringLookup` layers do not support it).
        """
        if not isinstance(data, tf.data.Dataset):
            data = self._pairs_dataset(data)
        spec = data.element_spec
        if not _is_string_pairs(spec):
            return data
        check_positive_int("batch_size", batch_size)
        if spec[0].shape.rank != 0:
            return data.map(self.preprocessor, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)
        ids = self.tokenize_dataset(data, drop_long=drop_long)
        if shuffle:
            ids = ids.shuffle(100_000, seed=seed, reshuffle_each_iteration=True)
        ids = batch_dataset(ids, batch_size, bucket_boundaries, batch_tokens, pad_to_multiple_of=pad_to_multiple_of)
        # The batch count is the same every epoch (bucket sizes do not depend on
        # the shuffle); counting it once (which also fills the cache) lets Keras
        # show progress and avoids its "ran out of data" warning.
        num_batches = int(ids.reduce(0, lambda count, _: count + 1))
        ids = ids.apply(tf.data.experimental.assert_cardinality(num_batches))
        return ids.prefetch(tf.data.AUTOTUNE)

    def tokenize_dataset(self, data, drop_long=False):
        """Unbatched pairs (a dataset or a list) -> cached, unbatched `(x, labels)` token ids.

        Pairs longer than the preprocessor's lengths are truncated, or with
        `drop_long=True` left out (`count_long_pairs` counts them).
        """
        if not isinstance(data, tf.data.Dataset):
            data = self._pairs_dataset(data)
        data = data.batch(1024)
        if drop_long:
            data = data.map(self._drop_long_pairs, num_parallel_calls=tf.data.AUTOTUNE)
        ids = data.map(self.preprocessor.tokenize_pairs, num_parallel_calls=tf.data.AUTOTUNE)
        # unbatch() leaves rank-1 ragged specs; a map turns them into the dense
        # tensors that padded_batch needs.
        return ids.unbatch().map(lambda x, labels: (x, labels)).cache()

    def count_long_pairs(self, data):
        """How many pairs of `data` exceed the preprocessor's lengths (what `drop_long` leaves out)."""
        if not isinstance(data, tf.data.Dataset):
            data = self._pairs_dataset(data)
        fits = data.batch(1024).map(lambda s, t: tf.reduce_sum(tf.cast(~self.preprocessor.fits(s, t), tf.int64)))
        return int(fits.reduce(tf.constant(0, tf.int64), lambda total, n: total + n))

    def _drop_long_pairs(self, sources, targets):
        keep = self.preprocessor.fits(sources, targets)
        return tf.boolean_mask(sources, keep), tf.boolean_mask(targets, keep)

    def fit(self, x=None, y=None, batch_size=64, validation_data=None, shuffle=True, seed=None,
            bucket_boundaries=None, **kwargs):
        """Keras `fit` on raw pairs (or on already tokenized batches).

        `bucket_boundaries`: sequence lengths at which batches are split into
        buckets of similar length (see `make_dataset`).
        """
        prepare_for_training(self.dtype_policy)
        if y is not None:
            return super().fit(x, y, batch_size=batch_size, validation_data=validation_data, **kwargs)
        x = self.make_dataset(x, batch_size, shuffle=shuffle, seed=seed, bucket_boundaries=bucket_boundaries)
        if validation_data is not None:
            validation_data = self.make_dataset(validation_data, batch_size, bucket_boundaries=bucket_boundaries)
        # Shuffling happened in the pipeline; Keras ignores (and warns on) it for datasets.
        return super().fit(x, validation_data=validation_data, shuffle=False, **kwargs)

    def evaluate(self, x=None, y=None, batch_size=None, **kwargs):
        if y is None:
            x = self.make_dataset(x, batch_size or 64)
        return super().evaluate(x, y, batch_size=batch_size, **kwargs)

    def export(self, path, formats=("saved_model",), overwrite=False, beam_config=None, tflite_quantization=None):
        """Writes a SavedModel for TF Serving (and/or TFLite) into the version folder `path`; see `kseq2seq.export`."""
        from kseq2seq import export  # the module imports no task code; lazy to keep start-up light

        return export.export(self, path, formats=formats, overwrite=overwrite, beam_config=beam_config,
                             tflite_quantization=tflite_quantization)

    def save(self, filepath, overwrite=True, **kwargs):
        """Keras' `save`, making the file's folder first: a fresh checkout has no `saved_models/`."""
        folder = os.path.dirname(os.fspath(filepath))
        if folder:
            os.makedirs(folder, exist_ok=True)
        return super().save(filepath, overwrite=overwrite, **kwargs)

    def save_to_preset(self, path, overwrite=False):
        """Writes this trained task as a preset folder that `from_preset(path)` and `kseq2seq.load` restore."""
        from kseq2seq import saving

        return saving.save_to_preset(self, path, overwrite=overwrite)

    # --- serialization --------------------------------------------------
    def get_config(self):
        return {
            "name": self.name,
            "trainable": self.trainable,
            "dtype": keras.dtype_policies.serialize(self.dtype_policy),
            "backbone": keras.saving.serialize_keras_object(self.backbone),
            "preprocessor": keras.saving.serialize_keras_object(self.preprocessor),
            "max_length": self.max_length,
            "preset": self.preset,
            "generation_config": self.generation_config.to_dict(),
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        for key in ("backbone", "preprocessor"):
            config[key] = keras.saving.deserialize_keras_object(config[key])
        return cls(**config)


def _is_string_pairs(spec):
    return (
        isinstance(spec, tuple)
        and len(spec) == 2
        and all(isinstance(s, tf.TensorSpec) and s.dtype == tf.string for s in spec)
    )


def _text(value):
    """Bytes from a dataset -> str where they are UTF-8 text; encoded images stay bytes."""
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        return value


def split_pairs(data):
    """`(sources, targets)` lists of Python values from a dataset or list of pairs."""
    if isinstance(data, tf.data.Dataset):
        sources, targets = [], []
        batched = data if data.element_spec[0].shape.rank else data.batch(1024)
        for s, t in batched.as_numpy_iterator():
            sources.extend(_text(x) for x in s)
            targets.extend(x.decode("utf-8") for x in t)
        return sources, targets
    pairs = list(data)
    if not pairs or not all(isinstance(p, (list, tuple)) and len(p) == 2 for p in pairs):
        raise ValueError("Expected a non-empty list of (source, target) pairs.")
    return [p[0] for p in pairs], [p[1] for p in pairs]
