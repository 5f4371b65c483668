"""Level 1: attention heatmaps with matplotlib (imported lazily; the Agg backend needs no display)."""

import numpy as np


def plot_attention(source_tokens, output_tokens, weights, path=None, title=None):
    """Heatmap of attention weights: one row per output token, one column per source token.

    Args:
        source_tokens: list of source token strings (columns).
        output_tokens: list of generated token strings (rows).
        weights: array `[>= len(output_tokens), >= len(source_tokens)]`; extra
            rows/columns (padding) are cut off.
        path: if given, the figure is saved there as PNG.

    Returns the matplotlib `Figure`.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    weights = np.asarray(weights)
    rows, cols = len(output_tokens), len(source_tokens)
    if weights.ndim != 2 or weights.shape[0] < rows or weights.shape[1] < cols:
        raise ValueError(
            f"Expected weights of shape [>= {rows}, >= {cols}] (outputs x sources). Received: shape={weights.shape}"
        )
    weights = weights[:rows, :cols]
    fig, ax = plt.subplots(figsize=(max(4.0, 0.35 * cols + 1.5), max(3.0, 0.35 * rows + 1.2)))
    image = ax.imshow(weights, cmap="viridis", vmin=0.0, vmax=1.0, aspect="auto")
    ax.set_xticks(range(cols), labels=[repr(t)[1:-1] or " " for t in source_tokens], rotation=90)
    ax.set_yticks(range(rows), labels=list(output_tokens))
    ax.set_xlabel("source")
    ax.set_ylabel("output")
    if title:
        ax.set_title(title)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=100)
        plt.close(fig)
    return fig


def plot_image_attention(image, output_tokens, weights, path=None, columns=5):
    """Each output word's attention over the image grid, overlaid on the image.

    Args:
        image: encoded image bytes, or an array `[H, W, 3]` (uint8 or floats in [0, 1]).
        output_tokens: the generated tokens (one panel each).
        weights: `[>= len(output_tokens), grid_h, grid_w]` (a `Captioner` record's `attention`).
        path: if given, the figure is saved there as PNG.

    Returns the matplotlib `Figure`.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if isinstance(image, bytes):
        import tensorflow as tf

        image = tf.io.decode_image(image, channels=3, expand_animations=False).numpy()
    image = np.asarray(image)
    weights = np.asarray(weights)
    if weights.ndim != 3 or weights.shape[0] < len(output_tokens):
        raise ValueError(f"Expected weights of shape [>= {len(output_tokens)}, grid_h, grid_w]. "
                         f"Received: shape={weights.shape}")
    rows = -(-len(output_tokens) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(2.2 * columns, 2.3 * rows), squeeze=False)
    height, width = image.shape[:2]
    for ax in axes.flat:
        ax.axis("off")
    for ax, token, grid in zip(axes.flat, output_tokens, weights):
        ax.imshow(image)
        # Nearest-neighbour upsampling: each grid cell covers its patch of the image.
        ax.imshow(grid, cmap="magma", alpha=0.55, extent=(0, width, height, 0), interpolation="nearest")
        ax.set_title(token, fontsize=10)
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=100)
        plt.close(fig)
    return fig


def plot_audio_attention(features, output_tokens, weights, path=None, title=None):
    """Each output token's attention over the audio, under its log-mel spectrogram, on one time axis.

    Args:
        features: log-mel features `[frames, mel bins]` (`SpeechBackbone.log_mel(waveform)`).
        output_tokens: the generated tokens (one row each).
        weights: `[>= len(output_tokens), encoder steps]` (a `Transcriber` record's
            `attention`); each step covers `frames / steps` frames (the encoder's subsampling).
        path: if given, the figure is saved there as PNG.

    Returns the matplotlib `Figure`.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    features, weights = np.asarray(features), np.asarray(weights)
    rows = len(output_tokens)
    if features.ndim != 2:
        raise ValueError(f"Expected features of shape [frames, mel bins]. Received: shape={features.shape}")
    if weights.ndim != 2 or weights.shape[0] < rows:
        raise ValueError(f"Expected weights of shape [>= {rows}, encoder steps]. Received: shape={weights.shape}")
    frames = features.shape[0]
    fig, (top, bottom) = plt.subplots(2, 1, sharex=True, figsize=(max(5.0, frames / 40 + 2), 2.5 + 0.3 * rows),
                                      gridspec_kw={"height_ratios": [1, max(1.0, rows / 6)]})
    top.imshow(features.T, origin="lower", aspect="auto", cmap="magma", extent=(0, frames, 0, features.shape[1]))
    top.set_ylabel("mel bin")
    # Steps are stretched over the frames they summarize, so both panels share the time axis.
    image = bottom.imshow(weights[:rows], cmap="viridis", vmin=0.0, vmax=1.0, aspect="auto",
                          interpolation="nearest", extent=(0, frames, rows - 0.5, -0.5))
    bottom.set_yticks(range(rows), labels=list(output_tokens))
    bottom.set_xlabel("frame")
    if title:
        top.set_title(title)
    fig.colorbar(image, ax=[top, bottom], fraction=0.03, pad=0.02)
    if path is not None:
        fig.savefig(path, dpi=100)
        plt.close(fig)
    return fig
