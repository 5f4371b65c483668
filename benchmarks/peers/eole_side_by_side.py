"""kseq2seq and eole (OpenNMT-py's successor) side by side on Multi30k en->de, one after the other on this machine.

    bash benchmarks/peers/setup.sh
    python benchmarks/peers/eole_side_by_side.py [--architecture rnn|transformer] [--minutes 5] [--write]

`--architecture rnn` (the default): both toolkits train OpenNMT's RNN with
the sizes set here: a 1-layer unidirectional LSTM encoder and decoder of 512
units, 256-wide embeddings, Luong's "general" attention with input feeding
(the attentional vector `tanh(W_c [c; h])` is the output and the next step's
input), dropout 0.3, Adam at 1e-3, gradient norm clipped at 1, batches of 64
sentences, no validation during training, every parameter drawn from
U(-0.1, 0.1) (kseq2seq: `attentional_layer=True`, `param_init=0.1`). What
still differs, by eole 0.6.4's defaults as read in its code: eole starts the
decoder from the encoder's final state (kseq2seq: through a tanh layer), and
divides a batch's summed loss by its sentences (kseq2seq: by its target
tokens).

`--architecture transformer`: both train the `multi30k_transformer` preset's
Transformer: 3+3 pre-norm layers of width 256, 4 heads, feed-forward 1024
(ReLU), biases in every projection, learned positions, the output projection
tied to the target embedding, dropout 0.3 (attention weights too), label
smoothing 0.1, Adam with a linear warm-up over 1,000 steps to 1e-3 and then
1/sqrt(step) (eole: `noam` at 0.506, the same curve at width 256), gradient
norm clipped at 1, batches of 64 sentences, Glorot-uniform weights (Keras'
default; eole: `xavier_uniform`). The layers are eole's own and keras-hub's.

Both read the same pieces: kseq2seq learns the preset's WordPiece
vocabularies (8,000 per language) from the training text, and eole reads the
training text in those pieces, space-separated, with those vocabularies.

Each trains for `--minutes` of wall clock from its first step (eole is stopped
then; its last checkpoint, saved every 100 steps, is scored). Reported: target
tokens/s of training (eole's log lines; kseq2seq's progress lines; the first
window, which traces or warms up, left out), steps trained, beam-4 decoding of
the 1,014 validation sentences (batch 64, GNMT length penalty 0.6, at most 64
pieces) in sentences/s, the outputs' mean length in WordPiece pieces (a barely
trained model's outputs can be much longer or shorter than the references'
14.6, and decoding time grows with them), and cased sacreBLEU of the
detokenized output. Both decode with eole's stopping rule (a sentence is done
when its best candidate ends: kseq2seq's `early_stopping=True`); kseq2seq's
default, exact stop is reported beside it. Needs ../shared/data/multi30k.
"""

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from common import argument_parser, report  # noqa: E402

PEERS = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(PEERS, "..", "..")
EOLE = os.path.join(PEERS, ".venv", "bin", "eole")
DATA = os.path.join(ROOT, "..", "shared", "data", "multi30k")
WORK = os.path.join(ROOT, "saved_models", "peers")
# kseq2seq's names for the architecture above (on the multi30k_gru_wordpiece preset's WordPiece settings).
OURS = {"cell_type": "lstm", "bidirectional": False, "num_encoder_layers": 1, "attention": "luong",
        "input_feeding": True, "attentional_layer": True, "param_init": 0.1, "units": 512, "embedding_dim": 256,
        "dropout": 0.3,
        "learning_rate": 1e-3, "clipnorm": 1.0, "batch_size": 64}
DECODING = {"num_beams": 4, "length_penalty": 0.6, "max_length": 64, "batch_size": 64, "early_stopping": True}


# Per architecture: eole's model section and what its training section changes; kseq2seq's preset and overrides
# (none for the Transformer: the preset is the match); the result's name, the title's word, the docstring paragraph.
ARCHITECTURES = {
    "rnn": {
        "preset": "multi30k_gru_wordpiece", "overrides": OURS, "result": "peers-eole", "title": "RNN", "paragraph": 2,
        "model": {
            "architecture": "rnn", "rnn_type": "LSTM", "layers": 1, "hidden_size": 512, "input_feed": 1,
            "embeddings": {"word_vec_size": 256},
            "encoder": {"encoder_type": "rnn"},
            "decoder": {"global_attention": "general"},
        },
        "training": {},
    },
    "transformer": {
        "preset": "multi30k_transformer", "overrides": {}, "result": "peers-eole-transformer", "title": "Transformer",
        "paragraph": 3,
        "model": {
            "architecture": "transformer", "layers": 3, "hidden_size": 256, "heads": 4, "transformer_ff": 1024,
            "mlp_activation_fn": "relu", "layer_norm": "standard", "norm_eps": 1e-5, "add_qkvbias": True,
            "add_ffnbias": True, "add_final_linear_bias": True, "share_decoder_embeddings": True,
            "embeddings": {"word_vec_size": 256, "position_encoding_type": "Learned", "n_positions": 128},
        },
        "training": {"learning_rate": 0.506, "decay_method": "noam", "warmup_steps": 1000, "label_smoothing": 0.1,
                     "attention_dropout": [0.3], "param_init_method": "xavier_uniform", "param_init": 0.0},
    },
}


def eole_config(folder, architecture="rnn"):
    """eole's training config for the same model, data in `folder` (written by `prepare`)."""
    config = _eole_base_config(folder, architecture)
    config["training"].update(ARCHITECTURES[architecture]["training"])
    config["model"] = ARCHITECTURES[architecture]["model"]
    return config


def _eole_base_config(folder, architecture):
    return {
        "seed": 0, "share_vocab": False,
        "src_vocab": f"{folder}/vocab.en", "tgt_vocab": f"{folder}/vocab.de",
        "src_vocab_size": 8100, "tgt_vocab_size": 8100,
        # The pieces are written space-separated, none of the training pairs longer than 64 of them.
        "data": {"corpus_1": {"path_src": f"{folder}/train.en", "path_tgt": f"{folder}/train.de"}},
        "report_every": 50,
        "training": {
            "model_path": f"{folder}/eole_{architecture}", "train_steps": 1_000_000, "valid_steps": 1_000_000,
            "save_checkpoint_steps": 100, "keep_checkpoint": 3,
            "batch_type": "sents", "batch_size": 64, "optim": "adam", "learning_rate": 1e-3,
            "max_grad_norm": 1.0, "dropout": [0.3], "world_size": 1, "gpu_ranks": [], "num_workers": 0,
        },
    }


def prepare(folder, architecture="rnn"):
    """Learns the WordPiece vocabularies (kseq2seq), writes both toolkits' inputs; returns the data and task."""
    import keras

    import kseq2seq
    from kseq2seq.datasets.text_files import load_text_pairs

    train = load_text_pairs(f"{DATA}/train.en", f"{DATA}/train.de")
    validation = load_text_pairs(f"{DATA}/val.en", f"{DATA}/val.de")
    keras.utils.set_random_seed(0)
    ours = ARCHITECTURES[architecture]
    task = kseq2seq.Translator.from_preset(ours["preset"], train_texts=train, **ours["overrides"])
    os.makedirs(folder, exist_ok=True)
    preprocessor = task.preprocessor
    for language, tokenizer, index in (("en", preprocessor.source_tokenizer, 0),
                                       ("de", preprocessor.target_tokenizer, 1)):
        with open(f"{folder}/vocab.{language}", "w", encoding="utf-8") as f:
            f.writelines(f"{t}\n" for t in tokenizer.vocabulary if not (t.startswith("[") and t.endswith("]")))
        for split, pairs in (("train", train), ("val", validation)):
            with open(f"{folder}/{split}.{language}", "w", encoding="utf-8") as f:
                f.writelines(" ".join(pieces) + "\n" for pieces in _pieces(tokenizer, [p[index] for p in pairs]))
    return train, validation, task


def _pieces(tokenizer, texts, batch=1024):
    for start in range(0, len(texts), batch):
        ragged = tokenizer.split(tokenizer.standardize(texts[start : start + batch]))
        for row in ragged.to_list():
            yield [piece.decode("utf-8") for piece in row]


def detokenize(lines):
    """eole's piece lines -> text, as kseq2seq's WordPiece detokenizer writes it."""
    from kseq2seq.tokenizers import join_punctuation

    glued = [re.sub(r"^##", "", line.strip().replace(" ##", "")) for line in lines]
    return [t.decode("utf-8") for t in join_punctuation(glued).numpy()]


class Log:
    """A child process's output lines, read as they come, with the time each arrived."""

    def __init__(self, process, path):
        self.lines, self.process = [], process
        self.file = open(path, "w", encoding="utf-8")
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        for line in self.process.stdout:
            self.lines.append((time.monotonic(), line))
            self.file.write(line)
            self.file.flush()

    def first(self, pattern):
        return next(((t, line) for t, line in self.lines if re.search(pattern, line)), None)


def train_eole(folder, minutes, architecture="rnn"):
    import yaml

    config = f"{folder}/eole_{architecture}.yaml"
    with open(config, "w", encoding="utf-8") as f:
        yaml.safe_dump(eole_config(folder, architecture), f, sort_keys=False)
    process = subprocess.Popen([EOLE, "train", "-config", config], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True, start_new_session=True)
    log = Log(process, f"{folder}/eole_train.log")
    started = None
    while process.poll() is None:
        time.sleep(1)
        started = started or log.first(r"Start training loop")
        if started and time.monotonic() - started[0] >= 60 * minutes:
            os.killpg(process.pid, signal.SIGTERM)
            break
    process.wait()
    if started is None:
        raise RuntimeError(f"eole train did not start training; see {folder}/eole_train.log")
    models = f"{folder}/eole_{architecture}"
    saved = sorted((int(name[5:]) for name in os.listdir(models) if name.startswith("step_")
                    and all(os.path.exists(f"{models}/{name}/{part}")
                            for part in ("config.json", "model.00.safetensors", "vocab.json"))), reverse=True)
    rates = [float(m.group(1)) for _, line in log.lines for m in [re.search(r"/\s*(\d+) tok/s", line)] if m]
    if not saved or len(rates) < 2:
        raise RuntimeError(f"Expected eole checkpoints and rate lines. Received: {saved}, {rates}; see its log")
    return {"steps": saved[0], "target_tokens_per_s": sum(rates[1:]) / len(rates[1:]),
            "model": f"{models}/step_{saved[0]}"}


def decode_eole(folder, model):
    output = f"{folder}/eole_val.pieces"
    command = [EOLE, "predict", "-model_path", model, "-src", f"{folder}/val.en", "-output", output,
               "-beam_size", "4", "-batch_size", "64", "-length_penalty", "wu", "-alpha", "0.6",
               "-max_length", "64", "-report_time"]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    with open(f"{folder}/eole_predict.log", "w", encoding="utf-8") as f:
        f.write(result.stdout + result.stderr)
    if result.returncode != 0:
        raise RuntimeError(f"eole predict failed; see {folder}/eole_predict.log")
    times = re.findall(r"(Step 0 time|Subsequent prediction time including all) \(s\): ([\d.]+)", result.stdout + result.stderr)
    seconds = sum(float(value) for _, value in times)
    with open(output, encoding="utf-8") as f:
        lines = f.readlines()
    return detokenize(lines), seconds, sum(len(line.split()) for line in lines) / len(lines)


class Rates:
    """kseq2seq's progress lines' target tokens/s, caught from its logger."""

    def __init__(self):
        import logging

        self.values = []
        self.handler = logging.Handler()
        self.handler.emit = lambda record: self._add(record.getMessage())
        logger = logging.getLogger("kseq2seq.training")
        logger.addHandler(self.handler)
        logger.setLevel(logging.INFO)

    def _add(self, message):
        match = re.search(r"([\d,]+) target tokens/s", message)
        if match:
            self.values.append(float(match.group(1).replace(",", "")))


def train_ours(task, train, minutes, architecture="rnn"):
    from kseq2seq.training import Trainer

    rates = Rates()
    ours = ARCHITECTURES[architecture]
    config = task.preset_config(ours["preset"], **ours["overrides"])
    history = Trainer(task, progress_seconds=30.0).fit(train, epochs=1000, batch_size=config["batch_size"], seed=0,
                                                       bucket_boundaries=config["bucket_boundaries"],
                                                       time_budget=minutes)
    return {"steps": history["steps"], "target_tokens_per_s": sum(rates.values[1:]) / len(rates.values[1:])}


def decode_ours(task, sources, early_stopping=True):
    options = {**DECODING, "early_stopping": early_stopping}
    task.generate(sources[:64], sampler="beam", **options)  # traces the beam search once
    start = time.perf_counter()
    texts = task.generate(sources, sampler="beam", **options)
    seconds = time.perf_counter() - start
    pieces = [len(p) for p in _pieces(task.preprocessor.target_tokenizer, texts)]
    return texts, seconds, sum(pieces) / len(pieces)


def main():
    parser = argument_parser(__doc__)
    parser.add_argument("--minutes", type=float, default=5.0, help="training wall clock for each toolkit")
    parser.add_argument("--architecture", choices=sorted(ARCHITECTURES), default="rnn")
    args = parser.parse_args()
    if not os.path.exists(EOLE):
        raise FileNotFoundError(f"Expected eole at {EOLE}: run `bash benchmarks/peers/setup.sh` first")
    from kseq2seq.metrics import corpus_bleu

    folder = os.path.abspath(WORK)
    train, validation, task = prepare(folder, args.architecture)
    sources, references = [s for s, _ in validation], [t for _, t in validation]
    rows = {}
    eole = train_eole(folder, args.minutes, args.architecture)
    texts, seconds, length = decode_eole(folder, eole["model"])
    rows["eole 0.6.4 (PyTorch 2.13.0, CPU)"] = {**eole, "decode_s": seconds, "length": length,
                                                 "bleu": corpus_bleu(texts, references).score}
    ours = train_ours(task, train, args.minutes, args.architecture)
    texts, seconds, length = decode_ours(task, sources)
    exact_texts, exact_seconds, _ = decode_ours(task, sources, early_stopping=False)
    rows["kseq2seq (TensorFlow)"] = {**ours, "decode_s": seconds, "length": length,
                                     "bleu": corpus_bleu(texts, references).score,
                                     "exact_decode_s": exact_seconds,
                                     "exact_bleu": corpus_bleu(exact_texts, references).score}
    print(json.dumps(rows, indent=1))
    base = rows["eole 0.6.4 (PyTorch 2.13.0, CPU)"]
    rate = lambda seconds: len(sources) / seconds  # noqa: E731
    body = ["| toolkit | steps in the budget | training target tokens/s | beam-4 decoding sentences/s | "
            "output pieces per sentence | validation BLEU (cased) | exact stop: sentences/s, BLEU |",
            "|---|---:|---:|---:|---:|---:|---:|"]
    for name, row in rows.items():
        exact = (f"{rate(row['exact_decode_s']):.1f} ({rate(row['exact_decode_s']) / rate(base['decode_s']):.2f}x), "
                 f"{row['exact_bleu']:.2f}" if "exact_decode_s" in row else "–")
        body.append(f"| {name} | {row['steps']:,} | {row['target_tokens_per_s']:,.0f} "
                    f"({row['target_tokens_per_s'] / base['target_tokens_per_s']:.2f}x) | {rate(row['decode_s']):.1f} "
                    f"({rate(row['decode_s']) / rate(base['decode_s']):.2f}x) | {row['length']:.1f} | {row['bleu']:.2f} "
                    f"| {exact} |")
    paragraphs = __doc__.split("\n\n")
    chosen = ARCHITECTURES[args.architecture]
    described = paragraphs[chosen["paragraph"]] + " " + paragraphs[4]
    flag = "" if args.architecture == "rnn" else f" --architecture {args.architecture}"
    report(chosen["result"],
           f"kseq2seq and eole, the same {chosen['title']} on Multi30k, {args.minutes:g} minutes each",
           f"`python benchmarks/peers/eole_side_by_side.py{flag} --minutes {args.minutes:g}` (after "
           "`bash benchmarks/peers/setup.sh`): " + described.replace("\n", " "), body, args.write)


if __name__ == "__main__":
    main()
