"""Figures every chapter uses: image grids, augmented views, embeddings, the threat model."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import seaborn as sns
import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

from sslsec.augment import SimCLRAugment, check_images
from sslsec.checks import positive_ints
from sslsec.profiles import AugmentConfig

sns.set_theme(context="notebook", style="white")


def _to_numpy_image(img: torch.Tensor) -> np.ndarray:
    img = img.detach().cpu().clamp(0, 1)
    return img[0].numpy() if img.shape[0] == 1 else img.permute(1, 2, 0).numpy()


def image_grid(images: torch.Tensor, nrow: int = 8, titles: Sequence[str] | None = None,
               row_labels: Sequence[str] | None = None, scale: float = 1.2) -> Figure:
    """A grid of images (``(N, C, H, W)`` in [0, 1]), ``nrow`` per row."""
    check_images(images, name="images")
    positive_ints(nrow=nrow)
    n = len(images)
    rows = max(1, -(-n // nrow))
    fig, axes = plt.subplots(rows, nrow, figsize=(scale * nrow, scale * rows), squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.set_xticks([])
        ax.set_yticks([])
        for spine in ax.spines.values():
            spine.set_visible(False)
        if i < n:
            ax.imshow(_to_numpy_image(images[i]), cmap="gray", vmin=0, vmax=1)
            if titles is not None and i < len(titles):
                ax.set_title(titles[i], fontsize=8)
    if row_labels is not None:
        for r, label in enumerate(row_labels[:rows]):
            axes[r, 0].set_ylabel(label, fontsize=9, rotation=0, ha="right", va="center")
    fig.tight_layout()
    return fig


def augmented_views(images: torch.Tensor, config: AugmentConfig, n_views: int = 6) -> Figure:
    """Each row: an original image, then ``n_views`` random SimCLR views of it."""
    check_images(images, name="images")
    aug = SimCLRAugment(images.shape[-1], images.shape[1], config)
    views = torch.stack([images, *aug.views(images, n_views)], dim=1).flatten(0, 1)
    titles = ["original"] + [f"view {i + 1}" for i in range(n_views)]
    return image_grid(views, nrow=n_views + 1, titles=titles)


def strength_grid(image: torch.Tensor, config: AugmentConfig,
                  strengths: Sequence[float] = (0.0, 0.5, 1.0, 1.5), n_views: int = 6) -> Figure:
    """Views of one image at several augmentation strengths (one row per strength)."""
    check_images(image, name="image")
    rows = []
    for s in strengths:
        aug = SimCLRAugment(image.shape[-1], image.shape[1], config.scaled(s))
        rows.append(torch.cat(aug.views(image[:1], n_views)))
    fig = image_grid(torch.cat(rows), nrow=n_views,
                     row_labels=[f"strength {s:g}" for s in strengths])
    return fig


def embedding_plot(features: torch.Tensor, labels: torch.Tensor, method: str = "pca",
                   ax: Axes | None = None, title: str | None = None, seed: int = 0) -> Axes:
    """2-D PCA or t-SNE map of ``features`` coloured by ``labels``."""
    from sklearn.decomposition import PCA
    from sklearn.manifold import TSNE

    if method not in ("pca", "tsne"):
        raise ValueError(f"method={method!r} is unknown; allowed: pca, tsne")
    f = features.detach().cpu().numpy()
    xy = (PCA(2, random_state=seed).fit_transform(f) if method == "pca"
          else TSNE(2, random_state=seed, init="pca", perplexity=30).fit_transform(f))
    ax = ax or plt.subplots(figsize=(4.5, 4.5))[1]
    sns.scatterplot(x=xy[:, 0], y=xy[:, 1], hue=labels.cpu().numpy(), palette="tab10", s=10,
                    linewidth=0, legend="full", ax=ax)
    ax.legend(title="class", fontsize=7, title_fontsize=8, markerscale=1.5, loc="best", ncol=2)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(title or method.upper())
    return ax


def universal_patterns(patterns: dict[str, torch.Tensor], rates, epsilon: float) -> Figure:
    """Chapter 09's UAP figure: each encoder's pattern (1, C, H, W; channel mean, red +,
    blue −) and, per encoder and task, the fooling rates in ``rates`` (a table with columns
    ``encoder``, ``task`` and one column per perturbation)."""
    fig, axes = plt.subplots(1, len(patterns) + 1, figsize=(4 + 3 * len(patterns), 3.5),
                             gridspec_kw={"width_ratios": [1] * len(patterns) + [2.5]})
    for ax, (name, delta) in zip(axes[:-1], patterns.items(), strict=True):
        ax.imshow(delta[0].mean(0), cmap="RdBu_r", vmin=-epsilon, vmax=epsilon)
        ax.set(title=f"UAP, {name} encoder", xticks=[], yticks=[])
    long = rates.melt(id_vars=["encoder", "task"], var_name="perturbation",
                      value_name="fooling rate")
    long["encoder · task"] = long["encoder"] + " · " + long["task"]
    sns.barplot(long, x="encoder · task", y="fooling rate", hue="perturbation", ax=axes[-1],
                palette=["tab:red", "tab:gray"])
    axes[-1].set(ylim=(0, 1), xlabel="", title=f"one pattern for every input, ε = {epsilon:g}")
    axes[-1].tick_params(axis="x", labelsize=8)
    sns.despine(ax=axes[-1])
    fig.tight_layout()
    return fig


def training_curve(losses: Sequence[float], ax: Axes | None = None,
                   label: str = "contrastive loss") -> Axes:
    """Per-epoch loss of a pre-training run."""
    ax = ax or plt.subplots(figsize=(4.5, 3))[1]
    ax.plot(range(1, len(losses) + 1), losses, marker="o", ms=3)
    ax.set_xlabel("epoch")
    ax.set_ylabel(label)
    sns.despine(ax=ax)
    return ax


# --- the Encoder-as-a-Service threat model ---------------------------------------------------

#: attacker positions on the threat-model figure, keyed by the chapters that use them
ATTACKERS: dict[str, tuple[str, str, tuple[float, float]]] = {
    # key: (label, the box it targets, position)
    "poisoner": ("poisoner\n(08 poisoning)", "data", (1.0, 0.6)),
    "backdoor": ("malicious provider\n(07 backdoor)", "encoder", (3.6, 0.6)),
    "api": ("API client\n(02 membership, 04 property,\n05 recipe, 06 stealing)", "api",
            (6.2, 0.35)),
    "inversion": ("curious provider\n(03 reconstruction, 04 attribute)", "api", (6.2, 4.7)),
    "adversarial": ("input attacker\n(09 evasion)", "users", (9.0, 0.6)),
    "owner": ("owner's check\n(06 watermark)", "encoder", (3.6, 4.7)),
    "sponge_trainer": ("malicious trainer\n(10 sponge poisoning)", "encoder", (2.3, 4.7)),
    "sponge": ("costly queries\n(10 sponges, slowdown)", "api", (9.0, 4.7)),
    "auditor": ("data owner's audit\n(01 tracing: marks,\nthen queries the API)", "data",
                (0.9, 4.7)),
}

_BOXES = {
    "data": ("pre-training\ndata", (0.2, 2.2), "#c6dbef"),
    "encoder": ("pre-trained\nencoder", (2.8, 2.2), "#9ecae1"),
    "api": ("Encoder-as-\na-Service API", (5.4, 2.2), "#6baed6"),
    "users": ("downstream\nclassifiers\n(users)", (8.1, 2.2), "#c7e9c0"),
}


def threat_model(highlight: str | Sequence[str] | None = None,
                 title: str = "Encoder-as-a-Service: who attacks where") -> Figure:
    """The EaaS pipeline (data → encoder → API → downstream users) and the attackers' positions.

    ``highlight``: one or more keys of :data:`ATTACKERS` drawn in red; the others are grey.
    """
    keys = [highlight] if isinstance(highlight, str) else list(highlight or [])
    for key in keys:
        if key not in ATTACKERS:
            raise ValueError(f"highlight={key!r} is unknown; allowed: {', '.join(ATTACKERS)}")
    fig, ax = plt.subplots(figsize=(11, 4.2))
    ax.set_xlim(-0.2, 10.5)
    ax.set_ylim(-0.3, 5.6)
    ax.axis("off")
    w, h = 1.9, 1.3
    centres = {}
    for key, (label, (x, y), colour) in _BOXES.items():
        ax.add_patch(FancyBboxPatch((x, y), w, h, boxstyle="round,pad=0.05", fc=colour,
                                    ec="black", lw=1.2))
        ax.text(x + w / 2, y + h / 2, label, ha="center", va="center", fontsize=10)
        centres[key] = (x + w / 2, y + h / 2)
    order = list(_BOXES)
    for (a, b), verb in zip(zip(order, order[1:], strict=False),
                            ("pre-train", "host", "features"), strict=True):
        (xa, ya), (xb, yb) = centres[a], centres[b]
        ax.annotate("", xy=(xb - w / 2 - 0.05, yb), xytext=(xa + w / 2 + 0.05, ya),
                    arrowprops=dict(arrowstyle="-|>", lw=2, color="black", mutation_scale=18))
        ax.text((xa + xb) / 2, ya + 0.12, verb, ha="center", va="bottom", fontsize=8)
    for key, (label, target, (x, y)) in ATTACKERS.items():
        active = not keys or key in keys
        colour = "#cb181d" if key in keys else ("#444444" if active else "#bbbbbb")
        ax.text(x, y, label, ha="center", va="center", fontsize=8.5, color=colour,
                bbox=dict(boxstyle="round,pad=0.3", fc="white", ec=colour, lw=1))
        tx, ty = centres[target]
        ty = ty - h / 2 if y < ty else ty + h / 2
        ax.add_patch(FancyArrowPatch((x, y + (0.45 if y < ty else -0.45)), (tx, ty),
                                     arrowstyle="-|>", mutation_scale=12, lw=1, color=colour,
                                     linestyle="--"))
    ax.set_title(title, fontsize=12)
    fig.tight_layout()
    return fig


# --- chapter 10: costs --------------------------------------------------------------------

def layer_density_bars(densities: dict[str, torch.Tensor | Sequence[float]],
                       layers: Sequence[str], ax: Axes | None = None,
                       title: str = "activation density entering each layer") -> Axes:
    """Grouped bars: for each kind of input or encoder (the keys), the share of non-zero
    entries entering each counted layer."""
    rows = [{"layer": layer, "what": what, "density": float(v)}
            for what, values in densities.items() for layer, v in zip(layers, values,
                                                                        strict=True)]
    ax = ax or plt.subplots(figsize=(7, 3.5))[1]
    sns.barplot(x=[r["layer"] for r in rows], y=[r["density"] for r in rows],
                hue=[r["what"] for r in rows], ax=ax)
    ax.set(ylim=(0, 1.05), xlabel="layer (its input)", ylabel="non-zero share", title=title)
    ax.legend(fontsize=8, loc="lower right")
    sns.despine(ax=ax)
    return ax


# --- chapter 01: audits as hypothesis tests ------------------------------------------------------

def _log10p(p: np.ndarray) -> np.ndarray:
    return -np.log10(np.clip(np.asarray(p, float), 1e-300, 1.0))


def audit_bars(table, alpha: float = 0.01, ax: Axes | None = None) -> Axes:
    """−log10 p of every suspect (rows) under every test (``method`` column), grouped by the
    suspect's ``group``, with the line of ``alpha``. ``table``: a DataFrame with columns
    ``suspect``, ``group``, ``method``, ``p-value``."""
    needed = {"suspect", "group", "method", "p-value"}
    if not needed <= set(table.columns):
        raise ValueError(f"table needs the columns {sorted(needed)}; got {list(table.columns)}")
    data = table.assign(**{"−log10 p": _log10p(table["p-value"])})
    order = list(dict.fromkeys(data["suspect"]))
    if ax is None:
        _, ax = plt.subplots(figsize=(8, 0.32 * len(order) + 1.5))
    sns.barplot(data, y="suspect", x="−log10 p", hue="method", order=order, ax=ax,
                orient="h")
    ax.axvline(-np.log10(alpha), color="k", ls="--", lw=1)
    ax.text(-np.log10(alpha), -0.7, f" p = {alpha:g}", fontsize=8, va="bottom")
    groups = data.drop_duplicates("suspect").set_index("suspect")["group"]
    for tick in ax.get_yticklabels():
        tick.set_text(f"{tick.get_text()}  [{groups[tick.get_text()]}]")
    ax.set_yticks(ax.get_yticks(), [t.get_text() for t in ax.get_yticklabels()], fontsize=8)
    ax.set_ylabel("")
    sns.despine(ax=ax)
    return ax


def latency_histogram(latencies: dict[str, np.ndarray], ax: Axes | None = None,
                      title: str = "latency of single queries") -> Axes:
    """Overlaid histograms of per-query latencies (seconds, drawn in µs), each with its
    median as a dashed line."""
    ax = ax or plt.subplots(figsize=(7, 3.5))[1]
    values = np.concatenate([np.asarray(v) for v in latencies.values()]) * 1e6
    hi = np.percentile(values, 99) * 1.1
    bins = np.linspace(0, hi, 40)
    for (name, v), colour in zip(latencies.items(), sns.color_palette(), strict=False):
        us = np.asarray(v) * 1e6
        ax.hist(np.clip(us, 0, hi), bins=bins, alpha=0.55, color=colour, label=name)
        ax.axvline(np.median(us), color=colour, ls="--", lw=1.5)
    ax.set(xlabel="latency per query (µs, this CPU)", ylabel="queries", title=title)
    ax.legend(fontsize=8)
    sns.despine(ax=ax)
    return ax


def power_by_share(table, alpha: float = 0.01, ax: Axes | None = None) -> Axes:
    """−log10 p against the owner's share of the pre-training data, one line per test.
    ``table``: columns ``share``, ``method``, ``p-value``."""
    needed = {"share", "method", "p-value"}
    if not needed <= set(table.columns):
        raise ValueError(f"table needs the columns {sorted(needed)}; got {list(table.columns)}")
    data = table.assign(**{"−log10 p": _log10p(table["p-value"])})
    if ax is None:
        _, ax = plt.subplots(figsize=(6.5, 4))
    sns.lineplot(data, x="share", y="−log10 p", hue="method", style="method", markers=True,
                 ax=ax)
    ax.axhline(-np.log10(alpha), color="k", ls="--", lw=1)
    ax.set_xscale("log")
    shares = sorted(data["share"].unique())
    ax.set_xticks(shares, [f"{s:.0%}" for s in shares])
    ax.minorticks_off()
    ax.set_xlabel("owner's share of the pre-training images")
    sns.despine(ax=ax)
    return ax


def dial(values: Sequence, render, description: str = "value"):
    """An ipywidgets explorer over precomputed results: a slider over ``values`` that calls
    ``render(value)`` (which draws, and returns a one-line summary: the widget's
    ``result``). Nothing is computed in the callback beyond drawing."""
    import ipywidgets as widgets

    values = list(values)
    if not values:
        raise ValueError("values is empty: nothing to explore")
    slider = widgets.SelectionSlider(options=values, value=values[len(values) // 2],
                                     description=description, continuous_update=False)
    return widgets.interactive(lambda value: render(value), value=slider)


def uniform_qq(p_values: Sequence[float]) -> Figure:
    """A histogram of ``p_values`` and their QQ plot against the uniform distribution (what
    p-values of a valid test look like where the null hypothesis holds)."""
    p = np.sort(np.asarray(p_values, float))
    if p.size == 0 or np.any((p < 0) | (p > 1)):
        raise ValueError("p_values must be a non-empty sequence of numbers in [0, 1]")
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.5))
    left.hist(p, bins=np.linspace(0, 1, 11), color="#6baed6", ec="white")
    left.axhline(len(p) / 10, color="k", ls="--", lw=1)
    left.set(xlabel="p-value", ylabel="count", title="histogram (dashed: uniform)")
    expected = (np.arange(1, len(p) + 1) - 0.5) / len(p)
    right.plot(expected, p, "o", ms=4)
    right.plot([0, 1], [0, 1], "k--", lw=1)
    right.set(xlabel="uniform quantile", ylabel="observed p-value", title="QQ plot")
    sns.despine(fig)
    fig.tight_layout()
    return fig


def audit_size_dial(sweep, alpha: float = 0.01):
    """An ipywidgets dial over precomputed audits: ``sweep`` (columns ``suspect``, ``images``,
    ``p-value``) holds each suspect's p-value with the first ``images`` images; the slider picks
    ``images`` and the bar chart shows −log10 p of every suspect. Nothing is computed in the
    callback; its return value (−log10 p per suspect) is the dial's ``result``."""
    import ipywidgets as widgets

    needed = {"suspect", "images", "p-value"}
    if not needed <= set(sweep.columns):
        raise ValueError(f"sweep needs the columns {sorted(needed)}; got {list(sweep.columns)}")
    sizes = sorted(sweep["images"].unique())

    def show(n):
        view = sweep[sweep["images"] == n]
        heights = pd_series(view["suspect"], _log10p(view["p-value"]))
        fig, ax = plt.subplots(figsize=(6, 3))
        ax.bar(list(heights.index), heights.values, color="#6baed6")
        ax.axhline(-np.log10(alpha), color="k", ls="--", lw=1)
        ax.set(ylabel="−log10 p", title=f"membership audit with {n} owner and {n} reference "
               "images")
        ax.tick_params(axis="x", labelsize=8)
        sns.despine(ax=ax)
        plt.show()
        return heights

    return widgets.interactive(show, n=widgets.SelectionSlider(options=sizes,
                                                                 value=sizes[-1]))


def pd_series(index, values):
    """A pandas Series (pandas is imported only where a figure needs it)."""
    import pandas as pd

    return pd.Series(np.asarray(values, float), index=list(index))
