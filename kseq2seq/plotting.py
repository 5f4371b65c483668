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
