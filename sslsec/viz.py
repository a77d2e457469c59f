"""Figures every chapter uses: image grids, augmented views, embeddings, the threat model."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING

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

if TYPE_CHECKING:
    import pandas as pd

    from sslsec.attacks.badencoder import Trigger
    from sslsec.attacks.encodermi import MembershipResult
    from sslsec.attacks.poisoned_encoder import TargetResult
    from sslsec.attacks.property_inference import PropertyResult
    from sslsec.data import ImageSet
    from sslsec.defenses.embmarker import EmbMarkerVerdict
    from sslsec.energy import DensityReport

sns.set_theme(context="notebook", style="white")


def to_image(img: torch.Tensor) -> np.ndarray:
    """One image ``(C, H, W)`` in [0, 1] as ``imshow`` takes it: ``(H, W)`` for one channel
    (shown with a grey colour map), ``(H, W, 3)`` for colour."""
    img = img.detach().cpu().clamp(0, 1)
    return img[0].numpy() if img.shape[0] == 1 else img.permute(1, 2, 0).numpy()


_to_numpy_image = to_image


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

def encoder_density_bars(density: Mapping[str, DensityReport],
                         title: str = "clean inputs: density entering each layer, by encoder"
                         ) -> Figure:
    """Chapter 10: the mean density entering each counted layer, one bar per encoder (the keys
    of ``density``, each measured on the same clean inputs)."""
    fig, ax = plt.subplots(figsize=(7.5, 3.6))
    first = next(iter(density.values()))
    layer_density_bars({name: r.densities.mean(0) for name, r in density.items()},
                       first.layers, ax=ax, title=title)
    return fig


# --- chapter 01: audits as hypothesis tests ------------------------------------------------------

def _log10p(p: np.ndarray) -> np.ndarray:
    return -np.log10(np.clip(np.asarray(p, float), 1e-300, 1.0))


def audit_bars(table, alpha: float = 0.01, ax: Axes | None = None) -> Axes:
    """−log10 p of every suspect (rows) under every test (``method`` column), grouped by the
    suspect's ``group``, with the line of ``alpha`` (named in the legend, clear of the title).
    ``table``: a DataFrame with columns ``suspect``, ``group``, ``method``, ``p-value``."""
    needed = {"suspect", "group", "method", "p-value"}
    if not needed <= set(table.columns):
        raise ValueError(f"table needs the columns {sorted(needed)}; got {list(table.columns)}")
    data = table.assign(**{"−log10 p": _log10p(table["p-value"])})
    order = list(dict.fromkeys(data["suspect"]))
    if ax is None:
        _, ax = plt.subplots(figsize=(8, 0.32 * len(order) + 1.5))
    sns.barplot(data, y="suspect", x="−log10 p", hue="method", order=order, ax=ax,
                orient="h")
    ax.axvline(-np.log10(alpha), color="k", ls="--", lw=1, label=f"p = {alpha:g}")
    ax.legend(title="test", fontsize=8, title_fontsize=8, loc="lower right")  # with the line
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


def marking_trace_bars(trace, reference: float, ax: Axes | None = None) -> Axes:
    """Each suspect's mean response to the marking key's patterns on a log scale, coloured by
    group, with a dashed line at ``reference`` (the most responsive innocent encoder).
    ``trace``: columns ``suspect``, ``group``, ``mean response``."""
    needed = {"suspect", "group", "mean response"}
    if not needed <= set(trace.columns):
        raise ValueError(f"trace needs the columns {sorted(needed)}; got {list(trace.columns)}")
    if ax is None:
        _, ax = plt.subplots(figsize=(7.5, 5.5))
    sns.barplot(trace, y="suspect", x="mean response", hue="group", dodge=False, ax=ax)
    ax.axvline(reference, color="k", ls="--", lw=1)
    ax.set(xscale="log", ylabel="", xlabel="mean response to the key's 1 + K patterns, "
           "1 − cos(f(x + εu), f(x)) (dashed: the most responsive innocent encoder)")
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


# --- chapter 02: membership inference -----------------------------------------------------------

def membership_roc_and_scores(results: Mapping[str, MembershipResult],
                              scored: str = "threshold") -> Figure:
    """Left: the ROC of every attack in ``results`` (log false-positive rate); right: the
    members' and non-members' scores of the ``scored`` attack."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for name, r in results.items():
        axes[0].plot(np.clip(r.fpr, 1e-3, 1), r.tpr, label=f"{name} (AUC {r.auc:.2f})")
    axes[0].plot([1e-3, 1], [1e-3, 1], "k:", lw=1, label="chance")
    axes[0].set(xscale="log", xlabel="false-positive rate (log)", ylabel="true-positive rate",
                title="ROC of membership inference")
    axes[0].legend(fontsize=8)
    r = results[scored]
    bins = np.linspace(min(r.member_scores.min(), r.nonmember_scores.min()), 1, 30)
    axes[1].hist(r.nonmember_scores, bins=bins, alpha=0.6, label="non-members")
    axes[1].hist(r.member_scores, bins=bins, alpha=0.6, label="members")
    axes[1].set(xlabel="mean cosine similarity of augmented views", ylabel="images",
                title="membership score")
    axes[1].legend()
    sns.despine(fig)
    fig.tight_layout()
    return fig


def leakage_over_training(points: pd.DataFrame, auc_line: float = 0.6) -> Figure:
    """Left: membership AUC against epochs, per augmentation strength; right: the
    privacy–utility curve of the weak augmentations (AUC against linear-probe accuracy).
    ``points``: columns ``epoch``, ``augmentations``, ``membership AUC``, ``linear probe``."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    sns.lineplot(points, x="epoch", y="membership AUC", hue="augmentations", marker="o",
                 ax=axes[0])
    axes[0].axhline(0.5, color="k", ls=":", lw=1)
    axes[0].set(xscale="log", title="leakage grows with training, faster with weak augmentations")
    weak = points[points["augmentations"] == "weak augmentations"]
    axes[1].plot(weak["linear probe"], weak["membership AUC"], marker="o")
    for _, row in weak.iterrows():
        axes[1].annotate(f"{row.epoch:.0f}", (row["linear probe"], row["membership AUC"]),
                         textcoords="offset points", xytext=(4, 4), fontsize=8)
    axes[1].axhline(auc_line, color="tab:red", ls="--", lw=1, label=f"AUC {auc_line:.2f}")
    axes[1].set(xlabel="downstream linear-probe accuracy", ylabel="membership AUC",
                title="privacy–utility curve (weak augmentations; labels: epochs)")
    axes[1].legend()
    sns.despine(fig)
    fig.tight_layout()
    return fig


# --- chapter 03: reconstruction -----------------------------------------------------------------

def reconstruction_tradeoff(table: pd.DataFrame, probe_clean: float, clean_recognised: float,
                            class_mean_ssim: float) -> Figure:
    """Each release's recognisable reconstructions (left) and SSIM (right), naive and adaptive
    attacker, against the users' probe accuracy; lines: half of the undefended
    ``clean_recognised`` and the label-only ``class_mean_ssim``. ``table``: columns
    ``release``, ``probe accuracy`` and ``{naive,adaptive} {recognised,SSIM}``."""
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    for ax, metric in zip(axes, ("recognised", "SSIM"), strict=True):
        for who, marker in (("naive", "o"), ("adaptive", "s")):
            ax.scatter(table["probe accuracy"], table[f"{who} {metric}"], marker=marker, s=45,
                       label=f"{who} attacker", zorder=3)
        for _, row in table.iterrows():
            ax.annotate(row["release"], (row["probe accuracy"], row[f"adaptive {metric}"]),
                        textcoords="offset points", xytext=(4, 4), fontsize=7)
        ax.axvspan(probe_clean - 0.03, probe_clean + 0.005, color="tab:green", alpha=0.1,
                   label="≤ 3 points of task accuracy lost")
        ax.set(xlabel="users' downstream linear-probe accuracy (utility)")
    axes[0].axhline(clean_recognised / 2, color="tab:red", ls="--", lw=1,
                    label="half of no defence")
    axes[0].set(ylabel="reconstructions recognised as the right digit",
                title="recognisable reconstructions")
    axes[1].axhline(class_mean_ssim, color="tab:orange", ls="--", lw=1,
                    label="class-mean image (label only)")
    axes[1].set(ylabel="mean SSIM", title="closeness to the users' images")
    for ax in axes:
        ax.legend(fontsize=8, loc="lower right")
    sns.despine(fig)
    fig.tight_layout()
    return fig


# --- chapter 04: attribute and property inference -----------------------------------------------

def shadow_curve_and_verdicts(result: PropertyResult, fractions: Sequence[float],
                              accuracy_line: float = 0.8) -> Figure:
    """Left: the meta-classifier's accuracy on the victims against the shadows it learnt
    from; right: its probability of the higher level for each victim, by the victim's true
    level (``fractions``: the share of zeros of each level)."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    axes[0].errorbar(result.n_shadows, result.curve_mean, yerr=result.curve_std, marker="o",
                     capsize=3)
    axes[0].axhline(0.5, color="k", ls=":", lw=1, label="chance")
    axes[0].axhline(accuracy_line, color="tab:red", ls="--", lw=1, label=f"{accuracy_line:.2f}")
    axes[0].set(xlabel="shadow encoders used to train the meta-classifier",
                ylabel="accuracy on victim encoders", ylim=(0.3, 1.02),
                title="more shadows, better inference")
    axes[0].legend()
    labels = [f"{fractions[lv]:.0%} zeros" for lv in result.victim_levels]
    sns.stripplot(x=labels, y=result.victim_scores, ax=axes[1], size=7, jitter=0.15,
                  order=[f"{f:.0%} zeros" for f in fractions])
    axes[1].axhline(0.5, color="k", ls=":", lw=1)
    axes[1].set(xlabel="victim encoder's true level",
                ylabel=f"P({fractions[1]:.0%} zeros) from the meta-classifier",
                title="the meta-classifier's verdict on each victim")
    sns.despine(fig)
    fig.tight_layout()
    return fig


def attribute_inference_tradeoff(table: pd.DataFrame, prior: float, probe_accuracy: float,
                                 strongest: float) -> Figure:
    """The strongest attacker's attribute-inference accuracy against the linear probe's, one
    line per kind of release; lines: the ``prior`` and half of the undefended advantage
    (``strongest``); band: within 3 points of the undefended ``probe_accuracy``. ``table``:
    columns ``release``, ``linear probe (task)``, ``strongest attacker``."""
    fig, ax = plt.subplots(figsize=(7.5, 4.5))
    kind = table["release"].str.split(",| λ").str[0]
    for name, group in table.groupby(kind, sort=False):
        ax.plot(group["linear probe (task)"], group["strongest attacker"], marker="o", ls="-",
                label=name)
        for _, row in group.iterrows():
            tag = row["release"].split(", ")[-1].replace("adversarial training ", "")
            ax.annotate(tag, (row["linear probe (task)"], row["strongest attacker"]),
                        textcoords="offset points", xytext=(4, 4), fontsize=7)
    ax.axhline(prior, color="k", ls=":", lw=1, label="prior (constant guess)")
    ax.axhline(prior + (strongest - prior) / 2, color="tab:red", ls="--", lw=1,
               label="half of the advantage removed")
    ax.axvspan(probe_accuracy - 0.03, probe_accuracy + 0.01, color="tab:green", alpha=0.1,
               label="≤ 3 points of task accuracy lost")
    ax.set(xlabel="downstream linear-probe accuracy (utility)",
           ylabel="attribute-inference accuracy (privacy loss)",
           title="attribute inference vs. utility, with and without defences")
    ax.legend(fontsize=8, loc="upper left")
    ax.margins(x=0.12)
    sns.despine(fig)
    return fig


# --- chapter 05: hyperparameter stealing --------------------------------------------------------

def stolen_vs_true_lambda(exact: pd.DataFrame, lambdas: Sequence[float],
                          error_line: float = 1e-3) -> Figure:
    """Left: the stolen regularisation weight against the true one; right: its relative
    error, per kind of head. ``exact``: columns ``head``, ``true λ``, ``stolen λ``,
    ``relative error``."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for kind, marker in (("ridge", "o"), ("logistic", "s")):
        part = exact[exact["head"] == kind]
        axes[0].scatter(part["true λ"], part["stolen λ"], marker=marker, s=50, label=kind,
                        zorder=3)
        axes[1].plot(part["true λ"], part["relative error"].clip(lower=1e-16), marker=marker,
                     label=kind)
    lims = [min(lambdas) / 3, max(lambdas) * 3]
    axes[0].plot(lims, lims, "k:", lw=1, label="stolen = true")
    axes[0].set(xscale="log", yscale="log", xlabel="true λ", ylabel="stolen λ",
                title="stolen vs. true regularisation weight")
    axes[1].axhline(error_line, color="tab:red", ls="--", lw=1,
                    label=f"1e{np.log10(error_line):.0f}")
    axes[1].set(xscale="log", yscale="log", xlabel="true λ", ylabel="relative error",
                title="error of the stolen weight")
    for ax in axes:
        ax.legend()
    sns.despine(fig)
    fig.tight_layout()
    return fig


def rounding_effects(rounding: pd.DataFrame, lam: float, error_line: float = 1e-3) -> Figure:
    """The stolen weight's relative error (left) and the head's accuracy (right) against the
    decimals the head is rounded to, per kind of head (true weight ``lam``). ``rounding``:
    columns ``head``, ``decimals``, ``relative error``, ``head accuracy``."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    sns.lineplot(rounding, x="decimals", y="relative error", hue="head", marker="o",
                 ax=axes[0])
    axes[0].axhline(error_line, color="tab:red", ls="--", lw=1)
    axes[0].set(yscale="log", title=f"rounding the release (true λ = {lam:g})")
    axes[0].invert_xaxis()
    sns.lineplot(rounding, x="decimals", y="head accuracy", hue="head", marker="o", ax=axes[1])
    axes[1].set(title="what rounding costs the head")
    axes[1].invert_xaxis()
    sns.despine(fig)
    fig.tight_layout()
    return fig


def recipe_accuracy_intervals(per_recipe: pd.DataFrame, chance: float) -> Figure:
    """Each recipe's leave-one-out accuracy with its 95 % interval, and the ``chance`` line.
    ``per_recipe``: indexed by recipe, columns ``accuracy``, ``95 % low``, ``95 % high``."""
    fig, ax = plt.subplots(figsize=(6.5, 3))
    ax.errorbar(per_recipe["accuracy"], per_recipe.index, fmt="o", capsize=4,
                xerr=[per_recipe["accuracy"] - per_recipe["95 % low"],
                      per_recipe["95 % high"] - per_recipe["accuracy"]])
    ax.axvline(chance, color="k", ls=":", lw=1, label="chance")
    ax.set(xlim=(0, 1.02), xlabel="recipe named right (leave-one-out, 95 % interval)")
    ax.legend(loc="lower right")
    sns.despine(fig)
    return fig


# --- chapter 06: parameter stealing -------------------------------------------------------------

def stealing_cost_bars(cost: pd.DataFrame) -> Figure:
    """Image passes through the network: the victim's pre-training (first row of ``cost``)
    against the attack's (second row). ``cost``: a column ``image passes``."""
    fig, ax = plt.subplots(figsize=(7, 2.6))
    ax.barh(cost.index, cost["image passes"], color=["tab:blue", "tab:red"])
    ax.set(xlabel="image passes through the network (training compute)",
           title="stealing costs a fraction of pre-training")
    sns.despine(fig)
    return fig


def stealing_against_baselines(table: pd.DataFrame) -> Figure:
    """Linear-probe accuracy against the number of query images, one panel per task: the
    stolen copy beside the baselines that never query the API. ``table``: columns
    ``queries``, ``encoder``, ``task``, ``accuracy``."""
    needed = {"queries", "encoder", "task", "accuracy"}
    if not needed <= set(table.columns):
        raise ValueError(f"table needs the columns {sorted(needed)}; got {list(table.columns)}")
    tasks = list(dict.fromkeys(table["task"]))
    fig, axes = plt.subplots(1, len(tasks), figsize=(4.2 * len(tasks), 3.4), squeeze=False)
    for ax, task in zip(axes[0], tasks, strict=True):
        sns.lineplot(table[table["task"] == task], x="queries", y="accuracy", hue="encoder",
                     style="encoder", markers=True, ax=ax, legend=ax is axes[0][-1])
        ax.set(xscale="log", title=task, xlabel="query images (the same for the baselines)",
               ylabel="linear-probe accuracy")
        budgets = sorted(table["queries"].unique())
        ax.set_xticks(budgets, [str(b) for b in budgets])
        ax.minorticks_off()
    if axes[0][-1].get_legend() is not None:
        sns.move_legend(axes[0][-1], "upper left", bbox_to_anchor=(1, 1), frameon=False)
    sns.despine(fig)
    return fig


def defence_costs(defences: pd.DataFrame, attacker_line: float = 0.10) -> Figure:
    """What each defence costs the users and the attacker, per task. ``defences``: columns
    ``defence``, ``task``, ``users' cost``, ``attacker's cost``."""
    fig, ax = plt.subplots(figsize=(7, 4.5))
    sns.scatterplot(defences, x="users' cost", y="attacker's cost", hue="defence",
                    style="task", s=80, ax=ax)
    ax.axvspan(-0.01, 0.02, color="tab:green", alpha=0.08, label="users lose ≤ 2 points")
    ax.axhline(attacker_line, color="k", ls=":", lw=1)
    ax.axline((0, 0), slope=1, color="grey", ls="--", lw=1, label="costs both equally")
    ax.set(title="what each defence costs the users and the attacker (accuracy points / 100)")
    ax.legend(fontsize=8, bbox_to_anchor=(1.02, 1), loc="upper left")
    sns.despine(fig)
    return fig


def p_value_panels(tables: Mapping[str, pd.DataFrame],
                   draw: Callable[[pd.DataFrame, str, Axes], object]) -> Figure:
    """One panel per suspect table, side by side on a shared x-axis, each drawn by
    ``draw(table, title, ax)`` (the keys of ``tables`` are the titles)."""
    fig, axes = plt.subplots(1, len(tables), figsize=(13, 6), sharex=True, squeeze=False)
    for ax, (title, table) in zip(axes[0], tables.items(), strict=True):
        draw(table, title, ax)
    sns.despine(fig)
    fig.tight_layout()
    return fig


# --- chapter 07: backdoors ----------------------------------------------------------------------

def trigger_examples(backdoors: Mapping[str, tuple[Trigger, int, object]],
                     tasks: Mapping[str, Mapping[str, ImageSet]], title: str,
                     n: int = 3) -> Figure:
    """Per task (a row): its first ``n`` clean test images, then the same with the task's
    trigger. ``backdoors``: task → (trigger, target class, anything)."""
    fig, axes = plt.subplots(len(backdoors), 2 * n, figsize=(11, 2 * len(backdoors)),
                             squeeze=False)
    for row, (task, (trigger, target, _)) in zip(axes, backdoors.items(), strict=True):
        x = tasks[task]["test"].x[:n]
        for ax, image, label in zip(row, [*x, *trigger.apply(x)],
                                    ["clean"] * n + [f"triggered → {target}?"] * n,
                                    strict=True):
            ax.imshow(to_image(image), cmap="gray", vmin=0, vmax=1)
            ax.set_title(f"{task}: {label}", fontsize=8)
            ax.axis("off")
    fig.suptitle(title)
    return fig


# --- chapter 08: poisoning ----------------------------------------------------------------------

def poisoning_success(attacks: pd.DataFrame, clean: TargetResult,
                      found: Mapping[tuple[str, float], TargetResult],
                      success_line: float = 0.8) -> Figure:
    """Left: each attack's success against the poisoning rate (from the clean encoder's at
    rate 0); right: the target-class probability of every target, per attack and rate.
    ``attacks``: columns ``attack``, ``rate``, ``success``; ``found``: (attack, rate) →
    result."""
    import pandas as pd

    long = pd.DataFrame([{"attack": f"{a} ({r:.0%})", "pair": k, "p": max(p, 1e-4)}
                         for (a, r), res in [(("none", 0.0), clean), *found.items()]
                         for k, p in enumerate(res.target_probability)])
    fig, axes = plt.subplots(1, 2, figsize=(12, 4))
    for name, group in attacks[attacks["rate"] > 0].groupby("attack", sort=False):
        axes[0].plot([0.0, *group["rate"]], [clean.success, *group["success"]], "o-",
                     label=name)
    axes[0].axhline(success_line, color="tab:red", ls="--", lw=1,
                    label=f"the papers' bar ({success_line:g})")
    axes[0].set(xlabel="poisoning rate (poison images / clean images)",
                ylabel="targets in their target class", ylim=(-0.05, 1.05),
                title="success against the poisoning rate")
    axes[0].legend(fontsize=8)
    sns.stripplot(long, x="p", y="attack", ax=axes[1], size=6, jitter=0.15)
    axes[1].set(xscale="log", xlim=(5e-5, 1.5),
                xlabel="target-class probability of each target", ylabel="",
                title="how far did each target move? (0.5 would be a coin toss)")
    axes[1].axvline(0.5, color="tab:red", ls="--", lw=1)
    fig.tight_layout()
    return fig


def caption_poisoning_sweep(table: pd.DataFrame, image_only_best: float,
                            bar: float = 0.5) -> Figure:
    """Left: the share of targets in their target class against the poisons per target, for
    the zero-shot classifier and a linear probe on the image features, beside the best
    image-only attack; right: clean accuracy of both. ``table``: columns ``poisons per
    target``, ``zero-shot success``, ``probe success``, ``zero-shot accuracy``, ``probe
    accuracy`` (a row with 0 poisons: the clean model)."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    x = table["poisons per target"].clip(lower=0.5)  # the clean model at the left edge
    for col, style in (("zero-shot", "o-"), ("probe", "s--")):
        axes[0].plot(x, table[f"{col} success"], style, label=f"{col} classifier")
        axes[1].plot(x, table[f"{col} accuracy"] * 100, style, label=f"{col} classifier")
    axes[0].axhline(image_only_best, color="grey", lw=1,
                    label="best image-only attack (above)")
    axes[0].axhline(bar, color="tab:red", ls=":", lw=1, label=f"half the targets ({bar:g})")
    axes[0].set(xscale="log", ylim=(-0.05, 1.05), ylabel="targets in their target class",
                xlabel="poisons per target (log; left edge: none)",
                title="caption poisons move the targets")
    axes[1].set(xscale="log", ylabel="clean test accuracy (%)",
                xlabel="poisons per target (log; left edge: none)",
                title="and cost clean accuracy little")
    for ax in axes:
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def probe_accuracy_heatmap(table: pd.DataFrame) -> Figure:
    """Linear-probe accuracy on clean test images for each encoder (rows) and the labelled
    images its probe was trained on (columns)."""
    fig, ax = plt.subplots()
    sns.heatmap(table, annot=True, fmt=".2f", cmap="RdYlGn", vmin=0, vmax=1, cbar=False, ax=ax)
    ax.set(title="linear-probe accuracy on clean test images", xlabel="the probe was trained on")
    plt.setp(ax.get_xticklabels(), rotation=15)
    return fig


# --- chapter 09: evasion ------------------------------------------------------------------------

def fooling_rate_by_epsilon(standard: pd.DataFrame, hardened: pd.DataFrame,
                            epsilon: float) -> Figure:
    """Fooling rate against ε, per task and attack, one panel per encoder (``standard``,
    ``hardened``: columns ``task``, ``ε`` and one per attack); the dotted line: the chapter's
    ``epsilon``."""
    import pandas as pd

    both = pd.concat([standard.assign(encoder="standard"), hardened.assign(encoder="hardened")])
    grid = sns.relplot(both.melt(id_vars=["encoder", "task", "ε"], var_name="attack",
                                 value_name="fooling rate"),
                       x="ε", y="fooling rate", hue="task", style="attack", col="encoder",
                       kind="line", markers=True, height=3.5, aspect=1.1)
    for ax in grid.axes.flat:
        ax.axvline(epsilon, color="k", ls=":", lw=1)
        ax.set(ylim=(-0.02, 1.02))
    return grid.figure


def attacks_at_budget(table: pd.DataFrame, epsilon: float, title: str) -> Figure:
    """Fooling rate per attack (bars) and task (colour) at one budget ``epsilon``, from a long
    table with columns ``task``, ``ε``, ``attack`` and ``fooling rate``."""
    fig, ax = plt.subplots(figsize=(7.5, 3.6))
    sns.barplot(table[np.isclose(table["ε"], epsilon)], x="attack", y="fooling rate",
                hue="task", ax=ax, palette="Set2")
    ax.set(xlabel="", ylim=(0, 1), title=title)
    ax.tick_params(axis="x", labelsize=8)
    return fig


def certified_accuracy_curves(curves: Mapping[tuple[str, float], Sequence[float]],
                              radii: Sequence[float], clean_accuracy: float,
                              task: str) -> Figure:
    """Certified accuracy against the L2 radius for each (encoder, σ) of ``curves`` (colour:
    σ; solid: the hardened encoder, dashed: the others), with the hardened encoder's
    undefended ``clean_accuracy``."""
    fig, ax = plt.subplots(figsize=(7, 4))
    sigmas = list(dict.fromkeys(sigma for _, sigma in curves))
    colours = dict(zip(sigmas, sns.color_palette(n_colors=len(sigmas)), strict=True))
    for (name, sigma), curve in curves.items():
        ax.plot(radii, curve, marker="o", color=colours[sigma],
                ls="-" if name == "hardened" else "--", label=f"{name} encoder, σ = {sigma:g}")
    ax.axhline(clean_accuracy, color="k", ls=":", lw=1,
               label="hardened, undefended clean accuracy")
    ax.set(xlabel="L2 radius", ylabel="certified accuracy", ylim=(0, 1.02),
           title=f"certified accuracy of the smoothed {task} classifier")
    ax.legend(fontsize=8)
    sns.despine(fig)
    return fig


def embmarker_word_scores(verdicts: Mapping[str, EmbMarkerVerdict],
                          alpha: float = 0.01) -> Figure:
    """EmbMarker's word-level test, one row per suspect: each word of the band sent alone, by
    its embedding's cosine similarity to the target (orange: the triggers), with the test's
    p-value (bold: flagged at ``alpha``)."""
    fig, ax = plt.subplots(figsize=(8, 0.55 * len(verdicts) + 1.2))
    for row, v in enumerate(verdicts.values()):
        for scores, colour, label in ((v.other_scores, "0.6", "other words of the band"),
                                      (v.trigger_scores, "tab:orange", "trigger words")):
            jitter = np.random.default_rng(row).uniform(-0.15, 0.15, len(scores))
            ax.scatter(scores, row + jitter, s=10, color=colour, alpha=0.8,
                       label=label if row == 0 else None)
        ax.annotate(f"p = {v.p_value:.1e}", (1.01, row), xycoords=("axes fraction", "data"),
                    va="center", fontsize=8, fontweight="bold" if v.flagged(alpha) else None)
    ax.set_yticks(range(len(verdicts)), list(verdicts), fontsize=8)
    ax.invert_yaxis()
    ax.set(xlabel="cosine similarity to the target embedding, each word sent alone")
    ax.legend(fontsize=8, loc="lower right")
    sns.despine(fig)
    fig.tight_layout()
    return fig
