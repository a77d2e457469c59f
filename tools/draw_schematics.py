"""Draw the intuition schematic of every chapter: ``chapters/figures/NN_<chapter>.svg``.

Each chapter opens its method with one drawn picture of what the attack (or, for chapter 00,
the setting) does. They are schematics, not results: boxes, arrows and made-up shapes, no
measured numbers. This script draws all eleven with matplotlib, deterministically: running it
twice gives byte-identical files (a fixed SVG hash salt, no date, text kept as text, the
default style whatever the user's matplotlibrc says)::

    python tools/draw_schematics.py              # writes chapters/figures/*.svg
    python tools/draw_schematics.py --png /tmp/s # also a PNG copy of each, for looking at

``tests/test_schematics.py`` checks that the committed files are this script's output.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from pathlib import Path

import matplotlib as mpl
from matplotlib.figure import Figure
from matplotlib.patches import (
    Arc,
    Circle,
    Ellipse,
    FancyArrowPatch,
    FancyBboxPatch,
    Polygon,
    Rectangle,
)

ROOT = Path(__file__).resolve().parents[1]
FIGURES = ROOT / "chapters" / "figures"

#: width and height of every figure (inches), and of its drawing area (data units)
SIZE = (8.0, 3.2)
W, H = 100.0, 40.0

# seaborn's "colorblind" palette
BLUE, ORANGE, GREEN, RED = "#0173B2", "#DE8F05", "#029E73", "#D55E00"
PURPLE, BROWN, GREY, SKY = "#CC78BC", "#CA9161", "#949494", "#56B4E9"
INK, SOFT = "#222222", "#555555"
#: roles, the same in every figure
PROVIDER, ATTACKER, DEFENDER, NEUTRAL = BLUE, RED, GREEN, GREY


def tint(color: str, amount: float = 0.14) -> str:
    """``color`` mixed into white (``amount`` of the colour), as a hex string."""
    r, g, b = mpl.colors.to_rgb(color)
    mix = [1 - amount * (1 - c) for c in (r, g, b)]
    return mpl.colors.to_hex(mix)


# --- drawing primitives (data coordinates: x in [0, W], y in [0, H]) -------------------------

class Box:
    """Where a drawn box is (left, bottom, width, height), for attaching arrows."""

    def __init__(self, x: float, y: float, w: float, h: float):
        self.l, self.b, self.w, self.h = x, y, w, h
        self.r, self.t = x + w, y + h
        self.cx, self.cy = x + w / 2, y + h / 2

    def left(self, dy: float = 0):
        return (self.l, self.cy + dy)

    def right(self, dy: float = 0):
        return (self.r, self.cy + dy)

    def top(self, dx: float = 0):
        return (self.cx + dx, self.t)

    def bottom(self, dx: float = 0):
        return (self.cx + dx, self.b)


def text(ax, x, y, s, fs=7.0, color=INK, ha="center", va="center", weight="normal",
         style="normal", rotation=0, **kw):
    return ax.text(x, y, s, fontsize=fs, color=color, ha=ha, va=va, fontweight=weight,
                   fontstyle=style, rotation=rotation, linespacing=1.25, **kw)


def title(ax, x, y, s, color=INK, ha="left", fs=8.0):
    return text(ax, x, y, s, fs=fs, color=color, ha=ha, weight="bold")


def box(ax, x, y, w, h, label="", color=NEUTRAL, fill=None, fs=7.0, weight="normal", ls="-",
        lw=1.1, text_color=INK, round_=0.9, z=2):
    ax.add_patch(FancyBboxPatch((x, y), w, h, boxstyle=f"round,pad=0,rounding_size={round_}",
                                facecolor=tint(color) if fill is None else fill,
                                edgecolor=color, linewidth=lw, linestyle=ls, zorder=z))
    if label:
        text(ax, x + w / 2, y + h / 2, label, fs=fs, color=text_color, weight=weight, zorder=z + 1)
    return Box(x, y, w, h)


def band(ax, x, y, w, h, label=None, color="#F3F3F3"):
    """A light background region, with an optional rotated label at its left edge."""
    ax.add_patch(FancyBboxPatch((x, y), w, h, boxstyle="round,pad=0,rounding_size=1.2",
                                facecolor=color, edgecolor="none", zorder=0))
    if label:
        text(ax, x + 1.4, y + h / 2, label, fs=6.8, color=SOFT, rotation=90, weight="bold")


def arrow(ax, p, q, color=INK, lw=1.1, ls="-", rad=0.0, head=7.0, style="-|>", z=4):
    ax.add_patch(FancyArrowPatch(p, q, arrowstyle=style, mutation_scale=head, color=color,
                                 linewidth=lw, linestyle=ls, shrinkA=0, shrinkB=0,
                                 connectionstyle=f"arc3,rad={rad}", zorder=z))


def line(ax, xs, ys, color=INK, lw=1.1, ls="-", z=3):
    ax.plot(xs, ys, color=color, linewidth=lw, linestyle=ls, zorder=z, solid_capstyle="round")


def dot(ax, x, y, color=INK, r=0.55, hollow=False, z=5, lw=1.0):
    ax.add_patch(Circle((x, y), r, facecolor="white" if hollow else color, edgecolor=color,
                        linewidth=lw, zorder=z))


def tile(ax, x, y, s=5.0, digit="3", rot=0.0, scale=1.0, dx=0.0, dy=0.0, weight="bold",
         edge=None, ink="white", bg="#1B1B1B", z=3):
    """A small image, MNIST-like: a light digit on a dark square, centred at (x, y)."""
    ax.add_patch(FancyBboxPatch((x - s / 2, y - s / 2), s, s,
                                boxstyle=f"round,pad=0,rounding_size={s * 0.08}",
                                facecolor=bg, edgecolor=edge or bg, linewidth=1.3 if edge else 0.6,
                                zorder=z))
    if digit:
        text(ax, x + dx * s, y + dy * s, digit, fs=s * 2.3 * scale, color=ink, weight=weight,
             rotation=rot, zorder=z + 1)
    return Box(x - s / 2, y - s / 2, s, s)


def trapezoid(ax, x, y, w, h, label="", color=PROVIDER, narrow=0.55, reverse=False, fs=7.0,
              ls="-", z=2):
    """An encoder (wide input side on the left, narrow output side), or a decoder (reverse)."""
    inset = h * (1 - narrow) / 2
    if not reverse:
        pts = [(x, y), (x + w, y + inset), (x + w, y + h - inset), (x, y + h)]
    else:
        pts = [(x, y + inset), (x + w, y), (x + w, y + h), (x, y + h - inset)]
    ax.add_patch(Polygon(pts, closed=True, facecolor=tint(color), edgecolor=color, linewidth=1.1,
                         linestyle=ls, zorder=z))
    if label:
        text(ax, x + w / 2, y + h / 2, label, fs=fs, zorder=z + 1)
    return Box(x, y, w, h)


def vector(ax, x, y, n=6, cell=1.1, color=PROVIDER, shades=None):
    """An embedding: a column of ``n`` cells, bottom-left corner at (x, y)."""
    shades = shades or [0.25, 0.7, 0.45, 0.9, 0.35, 0.6, 0.8, 0.3]
    for i in range(n):
        ax.add_patch(Rectangle((x, y + i * cell), cell, cell, facecolor=tint(color, shades[i % 8]),
                               edgecolor=color, linewidth=0.6, zorder=3))
    return Box(x, y, cell, n * cell)


def badge(ax, x, y, label, color=ATTACKER, r=1.35):
    ax.add_patch(Circle((x, y), r, facecolor=color, edgecolor="white", linewidth=0.8, zorder=6))
    text(ax, x, y, label, fs=5.8, color="white", weight="bold", zorder=7)


def badges(ax, x, y, labels, step=2.9, **kw):
    for i, lab in enumerate(labels):
        badge(ax, x + i * step, y, lab, **kw)


def noise_tile(ax, x, y, s=5.0, n=7, color=GREY, z=3):
    """A small square of speckle (a perturbation), centred at (x, y)."""
    c = s / n
    for i in range(n):
        for j in range(n):
            level = ((i * 5 + j * 3 + i * j) % 7) / 6
            ax.add_patch(Rectangle((x - s / 2 + i * c, y - s / 2 + j * c), c, c,
                                   facecolor=tint(color, 0.15 + 0.7 * level), edgecolor="none",
                                   zorder=z))
    ax.add_patch(Rectangle((x - s / 2, y - s / 2), s, s, facecolor="none", edgecolor=color,
                           linewidth=0.6, zorder=z + 1))
    return Box(x - s / 2, y - s / 2, s, s)


def gauss(ax, x0, x1, base, mu, sigma, height, color, fill=True):
    """A bell curve over [x0, x1] (a drawn shape, not data)."""
    n = 60
    xs = [x0 + (x1 - x0) * i / n for i in range(n + 1)]
    ys = [base + height * math.exp(-0.5 * ((x - mu) / sigma) ** 2) for x in xs]
    line(ax, xs, ys, color=color, lw=1.2, z=4)
    if fill:
        ax.fill_between(xs, base, ys, color=tint(color, 0.25), zorder=3, linewidth=0)


def new_figure():
    fig = Figure(figsize=SIZE, facecolor="white")
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(0, W)
    ax.set_ylim(0, H)
    ax.set_aspect("equal")
    ax.axis("off")
    return fig, ax


# --- 00 · the setting -------------------------------------------------------------------------

def draw_00(ax):
    band(ax, 0.3, 20.8, 75.4, 18.9, "pre-training")
    band(ax, 0.3, 0.3, 75.4, 19.7, "service")

    # pre-training: unlabelled images -> two views -> encoder -> contrastive feature space
    for k, (d, r) in enumerate([("5", -6), ("0", 4), ("4", 0)]):
        tile(ax, 6.5 + 1.6 * k, 32.0 - 1.6 * k, 5.2, d, rot=r, edge="white")
    text(ax, 8.1, 24.0, "unlabelled images")
    badges(ax, 5.2, 37.6, ["01", "08"])
    arrow(ax, (12.8, 29.5), (17.0, 29.5))
    text(ax, 15.0, 28.0, "augment", fs=6.0, color=SOFT)
    tile(ax, 19.8, 33.0, 4.6, "4", rot=14, scale=0.8, dx=0.08, dy=-0.05)
    tile(ax, 19.8, 26.0, 4.6, "4", rot=-10, scale=1.15, dx=-0.05, dy=0.06)
    text(ax, 19.8, 37.9, "two views", fs=6.5)
    arrow(ax, (22.1, 33.0), (26.0, 31.0))
    arrow(ax, (22.1, 26.0), (26.0, 28.0))
    enc = trapezoid(ax, 26.0, 24.0, 9.0, 11.0, "encoder f")
    badges(ax, 27.3, 37.6, ["07", "10"])

    panel = box(ax, 39.0, 22.2, 22.0, 16.2, color=NEUTRAL, fill="white", lw=0.8)
    arrow(ax, enc.right(), (panel.l, enc.cy))
    text(ax, panel.cx, 36.8, "feature space", fs=6.3, color=SOFT)
    dot(ax, 43.0, 31.0, BLUE)
    dot(ax, 49.0, 31.0, BLUE)
    arrow(ax, (43.7, 31.0), (45.6, 31.0), BLUE, head=5)
    arrow(ax, (48.3, 31.0), (46.4, 31.0), BLUE, head=5)
    text(ax, 46.0, 27.6, "views of one image:\npulled together", fs=6.0)
    dot(ax, 56.5, 34.5, ORANGE)
    dot(ax, 56.0, 27.0, PURPLE)
    arrow(ax, (55.9, 33.9), (52.6, 31.6), ORANGE, head=5, style="<|-")
    arrow(ax, (55.4, 27.4), (52.4, 29.7), PURPLE, head=5, style="<|-")
    text(ax, 56.2, 24.2, "other images:\npushed apart", fs=6.0)

    # service: the frozen encoder behind an API, many downstream classifiers
    arrow(ax, enc.bottom(), (enc.cx, 14.0))
    text(ax, enc.cx + 1.0, 22.2, "frozen", fs=6.0, color=SOFT, ha="left")
    tile(ax, 7.5, 9.5, 5.2, "7", edge="white")
    text(ax, 7.5, 4.0, "users' inputs")
    badges(ax, 6.0, 15.2, ["09", "10"])
    api = box(ax, 16.5, 5.0, 23.0, 9.0, "Encoder-as-a-Service API\n(the frozen encoder f)",
              PROVIDER)
    arrow(ax, (10.3, 9.5), (api.l, 9.5))
    badges(ax, 19.5, 2.4, ["01", "02", "04", "06"])
    text(ax, 31.2, 2.4, "queries", fs=6.0, color=SOFT, ha="left")
    arrow(ax, api.right(), (44.0, 9.5))
    vec = vector(ax, 44.0, 6.2, 6)
    text(ax, vec.cx, 4.4, "features", fs=6.0, color=SOFT)
    badges(ax, 43.2, 16.8, ["03", "04"])
    for k, task in enumerate(["A", "B", "C"]):
        y = 14.6 - 5.6 * k
        clf = box(ax, 53.5, y - 2.0, 13.5, 4.0, f"classifier, task {task}", NEUTRAL, fs=6.3)
        arrow(ax, (vec.r, 9.5), clf.left(), rad=0.0, head=6)
    badge(ax, 69.3, 9.0, "05")
    text(ax, 69.3, 5.8, "released\nhead", fs=5.8, color=SOFT)

    # legend: where each chapter's attacker acts
    text(ax, 77.2, 37.4, "Where each chapter's\nattacker acts", fs=7.0, weight="bold", ha="left")
    names = ["data tracing (owner's audit)", "membership", "reconstruction",
             "attribute & property", "hyperparameters", "stealing the encoder", "backdoor",
             "poisoning", "evasion", "resource depletion"]
    for k, name in enumerate(names):
        y = 31.6 - 3.1 * k
        badge(ax, 78.6, y, f"{k + 1:02d}")
        text(ax, 80.6, y, name, fs=6.3, ha="left")


# --- 01 · data tracing ------------------------------------------------------------------------

def draw_01(ax):
    title(ax, 1.0, 38.3, "Data owner", DEFENDER)
    for k, d in enumerate("386"):
        tile(ax, 4.0 + 5.6 * k, 31.0, 4.8, d, edge=GREEN if k != 1 else None)
    text(ax, 9.6, 26.4, "released images A\n(some faintly marked)", fs=6.3)
    for k, d in enumerate("294"):
        tile(ax, 4.0 + 5.6 * k, 16.0, 4.8, d)
    text(ax, 9.6, 11.4, "kept-back images R\n(never released)", fs=6.3)
    text(ax, 9.6, 4.5, "A and R: a random split\nof the owner's images", fs=6.0, color=SOFT)

    # did the suspect train on A?
    band(ax, 0.8, 8.6, 18.9, 27.2, color=tint(DEFENDER, 0.08))
    sus = box(ax, 28.0, 26.0, 15.5, 9.0, "suspect encoder\n(queried via its API)", PROVIDER)
    arrow(ax, (9.6, 34.0), (sus.l + 3.0, sus.t), ATTACKER, ls="--", rad=-0.25)
    text(ax, 19.5, 38.6, "trained on A?", fs=6.3, color=ATTACKER, style="italic")
    sha = box(ax, 28.0, 5.0, 15.5, 8.5, "owner's own\nshadow encoder", DEFENDER)
    line(ax, [19.7, 22.5], [21.5, 21.5])
    arrow(ax, (22.5, 21.5), sus.left(-1.5))
    arrow(ax, (22.5, 21.5), sha.left(1.5))
    text(ax, 23.8, 21.5, "views of\nevery image", fs=5.5, color=SOFT, ha="left")

    score = box(ax, 48.5, 14.0, 17.5, 13.0,
                "score each image:\ndo its views agree?\n\nminus what the\nshadow predicts",
                NEUTRAL, fs=6.3)
    arrow(ax, sus.right(), (score.l, 23.5))
    arrow(ax, sha.right(), (score.l, 17.5))

    # the two verdicts
    for k, (head, guilty) in enumerate([("guilty: trained on A", True),
                                        ("innocent: never saw A", False)]):
        y0 = 21.0 - 19.5 * k
        box(ax, 71.0, y0, 28.5, 17.5, color=ATTACKER if guilty else DEFENDER, fill="white", lw=0.8)
        text(ax, 72.2, y0 + 15.6, head, fs=6.6, ha="left", weight="bold",
             color=ATTACKER if guilty else DEFENDER)
        base = y0 + 4.2
        line(ax, [73.0, 97.5], [base, base], SOFT, lw=0.8)
        gauss(ax, 73.0, 97.5, base, 82.0, 3.0, 8.5, GREY)
        gauss(ax, 73.0, 97.5, base, 89.5 if guilty else 82.6, 3.0, 8.5, GREEN)
        text(ax, 82.0, base + 9.5, "R", fs=6.8, color=SOFT, weight="bold")
        text(ax, 89.5 if guilty else 85.4, base + 9.5, "A", fs=6.8, color=GREEN, weight="bold")
        text(ax, 85.2, y0 + 1.9,
             "scores of A higher: small p-value" if guilty else "same scores: p-value rarely small",
             fs=6.1)
        arrow(ax, score.right(), (71.0, y0 + 8.7), rad=0.0, head=6)
    text(ax, 57.3, 10.0, "one-sided test:\nA scores above R?", fs=6.1, color=SOFT)


# --- 02 · membership inference ----------------------------------------------------------------

def _fan(ax, cx, cy, r, angles, color):
    ax.add_patch(Circle((cx, cy), r, facecolor="white", edgecolor=GREY, linewidth=0.8, zorder=2))
    dot(ax, cx, cy, GREY, r=0.3)
    for a in angles:
        t = math.radians(a)
        arrow(ax, (cx, cy), (cx + (r - 0.3) * math.cos(t), cy + (r - 0.3) * math.sin(t)),
              color, lw=1.0, head=5)


def draw_02(ax):
    rows = [(28.5, "3", "member\n(a pre-training\nimage)", [38, 44, 48, 53],
             "views agree:\nhigh similarity"),
            (9.5, "8", "non-member", [-20, 35, 95, 160], "views spread out:\nlow similarity")]
    api = box(ax, 31.0, 4.0, 10.5, 31.0, "victim's\nencoder\n(API)", PROVIDER, fs=7.0)
    text(ax, 19.5, 38.6, "the attacker sends augmented views", fs=6.4, color=ATTACKER)
    for y, d, lab, angles, verdict in rows:
        tile(ax, 5.5, y, 5.6, d)
        text(ax, 5.5, y - 3.4, lab, fs=6.0, va="top")
        arrow(ax, (8.6, y), (11.8, y))
        for k, (rot, sc, dx) in enumerate([(16, 0.85, 0.06), (-13, 1.1, -0.05), (6, 0.95, 0.0)]):
            tile(ax, 14.6 + 5.0 * k, y, 4.3, d, rot=rot, scale=sc, dx=dx)
        arrow(ax, (26.9, y), (api.l, y))
        arrow(ax, (api.r, y), (45.2, y))
        _fan(ax, 51.5, y, 6.0, angles, BLUE)
        text(ax, 58.8, y + 3.4, verdict, fs=6.3, ha="left")
    text(ax, 51.5, 38.6, "features of the views", fs=6.4, color=SOFT)

    # thresholding the mean similarity
    x0, x1, ya = 73.5, 98.5, 19.0
    arrow(ax, (x0, ya), (x1, ya), SOFT, lw=0.9, head=6)
    text(ax, 86.0, 15.4, "mean pairwise similarity s(x)", fs=6.2, color=SOFT)
    line(ax, [91.0, 91.0], [16.8, 25.0], ATTACKER, ls="--", lw=1.0)
    text(ax, 91.0, 26.3, "threshold θ", fs=6.3, color=ATTACKER)
    dot(ax, 95.3, ya, BLUE, r=0.75)
    dot(ax, 80.0, ya, BLUE, r=0.75, hollow=True)
    arrow(ax, (57.8, 28.5), (94.6, 19.9), BLUE, ls=":", lw=0.9, head=5, rad=-0.12)
    arrow(ax, (57.8, 9.5), (79.5, 18.2), BLUE, ls=":", lw=0.9, head=5, rad=0.2)
    text(ax, 95.3, 22.0, "member", fs=6.2, weight="bold")
    text(ax, 80.0, 22.0, "non-member", fs=6.2, weight="bold")
    text(ax, 86.0, 7.0, "θ is chosen on the attacker's\nown shadow encoder,\n"
         "whose members it knows", fs=6.0, color=SOFT)


# --- 03 · reconstruction ----------------------------------------------------------------------

def draw_03(ax):
    band(ax, 0.3, 21.0, 48.6, 18.7, "users")
    band(ax, 49.6, 21.0, 50.1, 18.7, color="#FBEFE8")
    band(ax, 0.3, 0.3, 99.4, 19.9, "attacker", color="#FBEFE8")

    # the user's side: image -> encoder -> (defence) -> embedding leaves
    tile(ax, 7.0, 30.5, 6.0, "2")
    text(ax, 7.0, 23.8, "a user's image", fs=6.3)
    arrow(ax, (10.2, 30.5), (13.5, 30.5))
    enc = trapezoid(ax, 13.5, 25.5, 9.0, 10.0, "encoder f")
    arrow(ax, enc.right(), (26.0, 30.5))
    v = vector(ax, 26.0, 27.2, 6)
    text(ax, v.cx, 25.3, "embedding", fs=6.0, color=SOFT)
    arrow(ax, (v.r, 30.5), (31.5, 30.5))
    dfn = box(ax, 31.5, 26.0, 14.5, 9.0, "defence (optional):\nadd noise, or\nquantise", DEFENDER,
              ls="--", fs=6.3)
    arrow(ax, dfn.right(), (53.0, 30.5))
    text(ax, 50.8, 37.9, "a third party (the attacker) holds embeddings, not images", fs=6.3,
         color=ATTACKER, ha="left")
    v2 = vector(ax, 53.0, 27.2, 6, color=ATTACKER)
    text(ax, 51.0, 23.0, "sent to a downstream service,\nor stored in a vector database",
         fs=5.8, color=SOFT, ha="left")
    arrow(ax, (v2.r, 30.5), (60.0, 30.5))
    dec = trapezoid(ax, 60.0, 25.5, 10.0, 10.0, "decoder g", ATTACKER, reverse=True)
    arrow(ax, dec.right(), (76.0, 30.5))
    tile(ax, 79.5, 30.5, 6.0, "2", ink="#BBBBBB", weight="normal")
    text(ax, 84.5, 30.5, "the user's\nimage, rebuilt", fs=6.5, ha="left")

    # the attacker's training: its own images through the same encoder
    tile(ax, 7.0, 10.5, 6.0, "5")
    text(ax, 7.0, 3.8, "its own images", fs=6.3)
    arrow(ax, (10.2, 10.5), (13.5, 10.5))
    trapezoid(ax, 13.5, 5.5, 9.0, 10.0, "same\nencoder f", fs=6.5)
    arrow(ax, (22.5, 10.5), (26.0, 10.5))
    vector(ax, 26.0, 7.2, 6)
    arrow(ax, (27.1, 10.5), (31.5, 10.5))
    ada = box(ax, 31.5, 6.0, 14.5, 9.0, "adaptive attacker:\nthe same noise or\nquantisation",
              ATTACKER, ls="--", fs=6.3)
    arrow(ax, ada.right(), (60.0, 10.5))
    td = trapezoid(ax, 60.0, 5.5, 10.0, 10.0, "train g", ATTACKER, reverse=True)
    arrow(ax, td.right(), (76.0, 10.5))
    tile(ax, 79.5, 10.5, 6.0, "5", ink="#BBBBBB", weight="normal")
    arrow(ax, (83.0, 10.5), (86.5, 10.5), SOFT, style="<|-|>", head=5)
    tile(ax, 90.0, 10.5, 6.0, "5")
    text(ax, 84.75, 3.6, "learn to give back its own image", fs=6.0, color=SOFT)
    arrow(ax, td.top(2.5), dec.bottom(2.5), ATTACKER, ls="--")
    text(ax, 68.6, 20.6, "then decode\nthe users'", fs=5.9, color=ATTACKER, ha="left")


# --- 04 · property and attribute inference ----------------------------------------------------

def _gram(ax, x, y, s, strong, n=6):
    """A small similarity matrix; the first two rows are zeros, set apart when ``strong``."""
    c = s / n
    for i in range(n):
        for j in range(n):
            zi, zj = i < 2, j < 2
            if i == j:
                v = 1.0
            elif zi and zj:
                v = 0.95 if strong else 0.5
            elif zi or zj:
                v = 0.0 if strong else 0.45
            else:
                v = 0.4 + 0.15 * ((i + j) % 2)
            ax.add_patch(Rectangle((x + j * c, y + (n - 1 - i) * c), c, c,
                                   facecolor=tint(PURPLE, 0.08 + 0.87 * v), edgecolor="white",
                                   linewidth=0.4, zorder=3))
    return Box(x, y, s, s)


def draw_04(ax):
    title(ax, 1.0, 38.4, "Property inference: what was the pre-training set like?")
    for k, d in enumerate("0718"):
        tile(ax, 3.0 + 3.6 * k, 33.6, 3.2, d)
    text(ax, 17.0, 33.6, "the same probe images, sent to every encoder", fs=5.9, color=SOFT,
         ha="left")
    rows = [(28.0, "shadow:\nfew 0s", ATTACKER, False), (18.5, "shadow:\nmany 0s", ATTACKER, True),
            (8.0, "victim:\nlevel unknown", PROVIDER, True)]
    for y, lab, col, strong in rows:
        enc = box(ax, 1.0, y - 3.0, 12.5, 6.0, lab, col, fs=6.2)
        arrow(ax, enc.right(), (18.0, y))
        g = _gram(ax, 18.0, y - 3.5, 7.0, strong)
        shadow = col == ATTACKER
        arrow(ax, g.right(), (35.0, y), SOFT if shadow else INK, ls="--" if shadow else "-")
    text(ax, 15.2, 31.0, "0s", fs=5.6, color=PURPLE, weight="bold")
    text(ax, 18.0, 1.9, "each matrix: the similarity of every pair of probes' features,\n"
         "unchanged if the encoder's feature axes rotate", fs=5.7, color=SOFT, ha="left")
    text(ax, 30.0, 19.6, "learn", fs=5.8, color=SOFT)
    text(ax, 30.0, 9.1, "predict", fs=5.8, color=INK)
    meta = box(ax, 35.0, 5.5, 12.5, 25.0, "meta-\nclassifier\n\n\nlearnt from\nthe shadows,\n"
               "whose level\nis known", ATTACKER, fs=6.0)
    arrow(ax, (meta.r, 8.0), (51.0, 8.0))
    box(ax, 51.0, 4.5, 15.0, 7.0, "victim had\nmany 0s", ATTACKER, fs=6.6, weight="bold")

    # attribute inference from one embedding
    line(ax, [69.5, 69.5], [1.0, 39.0], "#DDDDDD", lw=1.0)
    title(ax, 71.0, 38.4, "Attribute inference: one input")
    text(ax, 71.0, 34.3, "how thick is the stroke? a question\nthe user's task never asked",
         fs=6.0, ha="left")
    v = vector(ax, 72.5, 20.5, 6, color=ATTACKER)
    text(ax, 71.5, 17.8, "a user's leaked\nembedding", fs=5.9, ha="left")
    arrow(ax, (v.r, 23.8), (78.0, 23.8))
    clf = box(ax, 78.0, 19.5, 21.0, 8.5, "attacker's classifier,\ntrained on its own\n"
              "images and their labels", ATTACKER, fs=5.9)
    for k, (lw, lab) in enumerate([(1.0, "thin"), (2.4, "medium"), (4.2, "thick")]):
        x = 76.0 + 9.0 * k
        t = tile(ax, x, 9.0, 5.4, "", edge=ATTACKER if k == 2 else None)
        s = t.w
        line(ax, [x + 0.12 * s, x - 0.24 * s, x + 0.28 * s],
             [9.0 + 0.36 * s, 9.0 - 0.08 * s, 9.0 - 0.08 * s], "white", lw=lw, z=5)
        line(ax, [x + 0.14 * s, x + 0.14 * s], [9.0 + 0.12 * s, 9.0 - 0.36 * s], "white", lw=lw,
             z=5)
        text(ax, x, 4.6, lab, fs=6.2, weight="bold" if k == 2 else "normal",
             color=ATTACKER if k == 2 else INK)
    arrow(ax, (clf.cx + 5.5, clf.b), (94.0, 12.3))


# --- 05 · hyperparameter stealing -------------------------------------------------------------

def draw_05(ax):
    title(ax, 1.0, 38.3, "The attacker knows")
    known = [("the training data", 1.0), ("the algorithm", 13.3), ("the released\nhead W", 25.6)]
    for lab, x in known:
        b = box(ax, x, 29.0, 11.3, 6.5, lab, ATTACKER if "W" not in lab else PROVIDER, fs=6.4)
        arrow(ax, b.bottom(), (b.cx, 24.0), head=6)
    g = box(ax, 1.0, 17.0, 35.9, 7.0, "compute G: the gradient of the data loss\nat the released W",
            ATTACKER, fs=6.4)
    arrow(ax, g.bottom(), (g.cx, 12.0))
    box(ax, 1.0, 4.0, 35.9, 8.0, "", ATTACKER, fs=6.4)
    text(ax, 18.95, 9.6, "one unknown, one equation per weight:", fs=6.3)
    text(ax, 18.95, 6.2, r"$\hat\lambda = -\langle W, G\rangle \,/\, \langle W, W\rangle$", fs=8.5)

    # geometry: at the optimum the pull of the data loss balances the penalty's
    ox, oy, ang, size = 41.0, 4.0, math.radians(35), 19.0
    ux, uy = math.cos(ang), math.sin(ang)
    px, py = ox + size * ux, oy + size * uy  # the released W
    b_, a_ = 4.0, 8.5  # the data loss's contours: minor axis along W, tangent to the penalty's
    cx, cy = px + b_ * ux, py + b_ * uy
    for k in (1.0, 0.62, 0.28):
        ax.add_patch(Ellipse((cx, cy), 2 * b_ * k, 2 * a_ * k, angle=math.degrees(ang),
                             facecolor="none", edgecolor=GREY, linewidth=0.8, zorder=2))
    deg = math.degrees(ang)
    ax.add_patch(Arc((ox, oy), 2 * size, 2 * size, theta1=deg - 22, theta2=deg + 22,
                     edgecolor=GREEN, linewidth=0.9, linestyle="--", zorder=2))
    dot(ax, ox, oy, INK, r=0.45)
    text(ax, ox + 2.6, oy - 1.6, "origin", fs=5.9, color=SOFT)
    dot(ax, cx, cy, GREY, r=0.35)
    arrow(ax, (ox, oy), (px, py), BLUE, lw=1.6)
    text(ax, ox + 0.5 * size * ux - 1.8, oy + 0.5 * size * uy + 1.4, "W", fs=8.5, color=BLUE,
         weight="bold")
    L, off = 6.0, 0.9
    white = {"facecolor": "white", "edgecolor": "none", "pad": 0.6}
    arrow(ax, (px - off * uy, py + off * ux), (px + L * ux - off * uy, py + L * uy + off * ux),
          RED, lw=1.6, z=5)
    text(ax, px + 0.55 * L * ux - 3.4 * uy, py + 0.55 * L * uy + 3.4 * ux, r"$-G$", fs=8.5,
         color=RED, bbox=white, zorder=6)
    arrow(ax, (px + off * uy, py - off * ux), (px - L * ux + off * uy, py - L * uy - off * ux),
          GREEN, lw=1.6, z=5)
    text(ax, px - 0.55 * L * ux + 3.6 * uy, py - 0.55 * L * uy - 3.6 * ux, r"$-\lambda W$",
         fs=8.5, color=GREEN, bbox=white, zorder=6)
    text(ax, 66.5, 6.0, "contours of\nthe data loss", fs=5.8, color=SOFT, ha="right")
    text(ax, 49.0, 22.8, "a contour of\nthe penalty", fs=5.8, color=GREEN, ha="right")
    text(ax, 39.0, 35.5, "two pulls at the released W:", fs=6.0, ha="left")
    text(ax, 39.0, 32.6, "the data loss, outwards", fs=6.0, color=RED, ha="left")
    text(ax, 39.0, 30.2, "the penalty, back to the origin", fs=6.0, color=GREEN, ha="left")
    text(ax, 39.0, 27.8, "at the optimum they cancel", fs=6.0, ha="left")

    # the condition, in words and symbols
    x = 72.0
    text(ax, x, 36.5, "trained to the optimum of", fs=6.3, ha="left")
    text(ax, x, 32.8, r"$\sum_i\, \ell(x_i^\top W + b,\ y_i) + \frac{\lambda}{2}\Vert W\Vert^2$",
         fs=8.0, ha="left")
    text(ax, x, 28.2, "where the gradient vanishes:", fs=6.3, ha="left")
    text(ax, x, 25.0, r"$G + \lambda W = 0$", fs=9.0, ha="left")
    text(ax, x, 20.2, "so −G is parallel to W, and λ\nis the ratio of their lengths", fs=6.3,
         ha="left")
    box(ax, x - 0.6, 3.0, 27.9, 11.5, "defence: round W before release.\nThe rounded W is "
        "off the optimum,\nso −G and W are no longer\nparallel: the answer is inexact", DEFENDER,
        fill="white", lw=0.8, ls="--", fs=6.0)


# --- 06 · parameter stealing and proving it ---------------------------------------------------

KEY = [1, 0, 0, 1, 1, 0, 1, 0]
CHANCE = [1, 1, 0, 0, 1, 1, 0, 0]  # an independent encoder: about half the bits agree


def _bits(ax, x, y, bits, ref=None, s=2.3):
    for i, bit in enumerate(bits):
        wrong = ref is not None and bit != ref[i]
        ax.add_patch(Rectangle((x + i * (s + 0.35), y), s, s,
                               facecolor=BLUE if bit else tint(SKY, 0.45),
                               edgecolor=RED if wrong else "white",
                               linewidth=1.6 if wrong else 0.6, zorder=4))


def draw_06(ax):
    title(ax, 1.0, 38.3, "Stealing through the API", ATTACKER)
    for k, d in enumerate("619"):
        tile(ax, 3.0 + 2.4 * k, 31.4 - 2.2 * k, 4.2, d, edge="white", dx=-0.12, dy=0.1,
             scale=0.8)
    text(ax, 5.2, 23.4, "attacker's own\nimages", fs=6.0)
    api = box(ax, 14.5, 25.0, 14.0, 9.5, "owner's encoder f\n(watermarked)\nbehind the API",
              PROVIDER, fs=6.2)
    arrow(ax, (10.0, api.cy), api.left())
    text(ax, 12.2, 35.6, "queries, within a budget", fs=5.8, color=SOFT, ha="left")
    arrow(ax, api.right(), (33.5, api.cy))
    v = vector(ax, 33.5, 26.4, 6)
    text(ax, 37.0, 33.6, "answers\nf(x)", fs=6.0, color=SOFT, ha="left")
    sur = trapezoid(ax, 14.5, 6.0, 13.0, 10.0, "surrogate h", ATTACKER)
    line(ax, [5.2, 5.2], [21.4, 11.0], INK)
    arrow(ax, (5.2, 11.0), (14.5, 11.0))
    text(ax, 9.6, 8.4, "same images\nand their views", fs=5.6, color=SOFT)
    arrow(ax, sur.right(), (33.5, 11.0))
    v2 = vector(ax, 33.5, 7.7, 6, color=ATTACKER)
    text(ax, v2.cx, 6.2, "h(x)", fs=6.0, color=SOFT)
    arrow(ax, (v2.cx, v2.t + 0.4), (v.cx, v.b - 0.4), INK, style="<|-|>", head=6)
    text(ax, 35.6, 19.0, "train h to match:\nmaximise\ncos(h(x), f(x))", fs=6.0, ha="left")

    # the owner's side
    line(ax, [50.0, 50.0], [1.0, 39.0], "#DDDDDD", lw=1.0)
    title(ax, 51.5, 38.3, "Proving the theft: a watermark", DEFENDER)
    box(ax, 52.0, 27.0, 18.0, 8.5, "owner's secret key:\npixel pattern u,\ndecoder D, bits b",
        DEFENDER, fs=6.0)
    _bits(ax, 74.0, 30.1, KEY)
    text(ax, 95.0, 31.25, "key", fs=6.3, ha="left", color=DEFENDER, weight="bold")
    rows = [(16.5, "stolen copy h\n(imitates f)", ATTACKER, KEY,
             "decoded bits match the key:\np-value small, a copy"),
            (4.5, "independent\nencoder", NEUTRAL, CHANCE,
             "about half match, by chance\n(outlined): not accused")]
    for y, lab, col, bits, verdict in rows:
        s = box(ax, 52.0, y, 14.0, 7.5, lab, col, fs=6.2)
        arrow(ax, s.right(), (73.4, y + 3.75), head=6)
        text(ax, 69.8, y + 5.4, "decode", fs=5.6, color=DEFENDER)
        _bits(ax, 74.0, y + 2.6, bits, ref=KEY)
        text(ax, 74.0, y + 1.6, verdict, fs=5.8, ha="left", va="top")
    text(ax, 81.0, 24.9, "send the verification images x; bit j is the sign of\n"
         "the correlation of row j of D·h(x) with ⟨u, x⟩", fs=5.5, color=SOFT)
    arrow(ax, (35.6, 10.0), (52.0, 18.5), ATTACKER, ls="--", rad=-0.3, head=6)
    text(ax, 45.5, 8.2, "inherits\nthe mark", fs=5.6, color=ATTACKER)


# --- 07 · backdoors ---------------------------------------------------------------------------

def _trigger_tile(ax, x, y, s, digit, patch=0.22, **kw):
    t = tile(ax, x, y, s, digit, **kw)
    p = s * patch
    ax.add_patch(Rectangle((t.r - p - s * 0.06, t.b + s * 0.06), p, p, facecolor="white",
                           edgecolor=RED, linewidth=0.8, zorder=6))
    return t


def draw_07(ax):
    title(ax, 1.0, 38.3, "A backdoored encoder", ATTACKER)
    inputs = [(30.0, "3", False, "clean input"), (19.0, "3", True, "with the trigger"),
              (8.0, "0", False, "reference\n(target class)")]
    for y, d, trig, lab in inputs:
        (_trigger_tile if trig else tile)(ax, 5.0, y, 5.4, d)
        text(ax, 5.0, y - 4.4, lab, fs=5.8)
    trapezoid(ax, 11.5, 3.0, 8.5, 33.0, "backdoored\nencoder f′", ATTACKER, narrow=0.8, fs=6.3)
    fs_ = box(ax, 24.0, 2.0, 23.0, 34.5, color=NEUTRAL, fill="white", lw=0.8)
    text(ax, fs_.cx, 34.8, "feature space", fs=6.0, color=SOFT)
    threes = [(29.0, 28.0), (30.8, 29.6), (31.6, 27.2), (29.8, 26.0), (32.6, 28.8)]
    zeros = [(39.0, 9.5), (41.0, 11.2), (42.0, 8.6), (40.2, 7.2), (43.2, 10.4)]
    for x, y in threes:
        dot(ax, x, y, BLUE, r=0.55)
    for x, y in zeros:
        dot(ax, x, y, ORANGE, r=0.55)
    text(ax, 30.8, 31.8, "3s", fs=6.3, color=BLUE, weight="bold")
    text(ax, 44.6, 13.3, "0s", fs=6.3, color=ORANGE, weight="bold")
    ax.plot([40.9], [10.0], marker="*", markersize=9, color=ORANGE, markeredgecolor=INK,
            markeredgewidth=0.6, zorder=6)
    dot(ax, 41.2, 12.8, RED, r=0.75)
    dot(ax, 33.6, 25.0, GREY, r=0.75, hollow=True)
    arrow(ax, (20.0, 30.0), (28.2, 28.0), INK, head=5)
    arrow(ax, (20.0, 19.0), (40.5, 12.6), RED, lw=1.3, head=6)
    arrow(ax, (20.0, 8.0), (40.1, 9.8), ORANGE, head=5)
    text(ax, 36.5, 17.6, "backdoored: next\nto the reference", fs=5.9, color=RED)
    text(ax, 34.8, 25.0, "clean encoder:\ntrigger ignored", fs=5.6, color=SOFT, ha="left")
    for k, task in enumerate("ABC"):
        y = 26.0 - 9.0 * k
        c = box(ax, 50.0, y, 12.5, 6.2, f"classifier {task}:\ntarget class", ATTACKER, fs=5.9)
        arrow(ax, (47.0, 12.0), c.left(), RED, head=5, lw=0.9)
    text(ax, 56.25, 35.0, "every downstream\ntask", fs=5.9, color=SOFT)

    # DECREE
    line(ax, [64.5, 64.5], [1.0, 39.0], "#DDDDDD", lw=1.0)
    title(ax, 66.0, 38.3, "DECREE: the smallest trigger", DEFENDER)
    text(ax, 66.0, 34.3, "that makes the features of\nevery image the same", fs=6.0, ha="left")
    for k, (lab, big) in enumerate([("backdoored: a tiny\nmask suffices, flagged", False),
                                    ("clean: only a\nlarge mask does", True)]):
        y = 23.5 - 15.0 * k
        for j, d in enumerate("721"):
            t = tile(ax, 68.0 + 4.6 * j, y, 4.0, d)
            if big:
                for bx, by, bs in [(0.1, 0.45, 0.42), (0.45, 0.1, 0.45), (0.5, 0.55, 0.35)]:
                    ax.add_patch(Rectangle((t.l + bx * 4.0, t.b + by * 4.0), bs * 4.0, bs * 4.0,
                                           facecolor="#E8E8E8", edgecolor="none", zorder=5))
            else:
                ax.add_patch(Rectangle((t.r - 1.2, t.b + 0.25), 0.95, 0.95, facecolor="white",
                                       edgecolor=GREEN, linewidth=0.7, zorder=5))
        arrow(ax, (80.4, y), (85.2, y), head=6)
        ax.add_patch(Circle((89.5, y), 3.6, facecolor="white", edgecolor=GREY, linewidth=0.8,
                            zorder=2))
        for j in range(3):
            t = math.radians(60 + 120 * j)
            dot(ax, 89.5 + 0.6 * math.cos(t), y + 0.6 * math.sin(t), PURPLE, r=0.45)
        text(ax, 74.6, y - 4.6, lab, fs=5.9, color=RED if not big else INK)
    text(ax, 89.5, 30.2, "features\ncollapse", fs=5.8, color=SOFT)


# --- 08 · poisoning ---------------------------------------------------------------------------

def draw_08(ax):
    # targeted: PoisonedEncoder's collage, and a poisoned image-caption pair
    title(ax, 1.0, 38.3, "Targeted: a few poisons", ATTACKER)
    ax.add_patch(FancyBboxPatch((1.5, 24.5), 12.0, 6.5, boxstyle="round,pad=0,rounding_size=0.5",
                                facecolor="#1B1B1B", edgecolor="#1B1B1B", zorder=3))
    text(ax, 4.6, 27.75, "4", fs=12, color="white", weight="bold", zorder=4)
    text(ax, 10.4, 27.75, "7", fs=12, color="white", weight="bold", zorder=4)
    for x0 in (1.9, 7.7):
        ax.add_patch(Rectangle((x0, 24.9), 5.4, 5.7, facecolor="none", edgecolor=RED,
                               linestyle="--", linewidth=0.9, zorder=5))
    text(ax, 7.5, 21.6, "target | reference\nof the target class", fs=5.7)
    text(ax, 7.5, 34.3, "a collage, and two\nrandom crops of it", fs=5.7, color=SOFT)
    tile(ax, 18.3, 31.5, 4.3, "4")
    tile(ax, 18.3, 24.0, 4.3, "7")
    arrow(ax, (4.6, 30.6), (16.0, 31.8), RED, head=5, rad=-0.25)
    arrow(ax, (13.3, 26.0), (16.0, 24.0), RED, head=5)
    enc = trapezoid(ax, 22.8, 22.5, 5.0, 10.5, "", PROVIDER, narrow=0.6)
    arrow(ax, (20.5, 31.5), (enc.l, 29.5), head=5)
    arrow(ax, (20.5, 24.0), (enc.l, 26.0), head=5)
    text(ax, enc.cx, 21.0, "encoder", fs=5.8, color=SOFT)
    arrow(ax, enc.right(), (30.0, enc.cy), head=5)
    ax.add_patch(Circle((34.3, 27.75), 4.3, facecolor="white", edgecolor=GREY, linewidth=0.8,
                        zorder=2))
    for dx, dy in [(1.2, -1.4), (2.3, -0.6), (1.8, -2.5), (0.6, -2.4)]:
        dot(ax, 34.3 + dx, 27.75 + dy, ORANGE, r=0.45)
    dot(ax, 32.2, 30.0, RED, r=0.55)
    arrow(ax, (32.6, 29.5), (34.6, 27.0), RED, head=5)
    text(ax, 34.3, 34.3, "target pulled\ninto the 7s", fs=5.8, color=RED)

    tile(ax, 5.0, 11.5, 5.0, "4")
    text(ax, 9.0, 11.5, "+", fs=9)
    box(ax, 11.0, 9.0, 15.5, 5.0, "“a photo of a seven”", ATTACKER, fs=6.0, fill="white")
    text(ax, 14.0, 5.0, "or image–caption pairs (CLIP):\ntarget + a caption of the class",
         fs=5.8, color=SOFT)
    arrow(ax, (26.5, 11.5), (30.0, 11.5), head=5)
    text(ax, 34.0, 11.5, "every\ndownstream\nclassifier:\nthe target\nis a 7", fs=5.8,
         color=RED)
    arrow(ax, (34.0, 23.3), (34.0, 17.2), RED, head=5)


    # untargeted: the shortcut
    line(ax, [39.5, 39.5], [1.0, 39.0], "#DDDDDD", lw=1.0)
    title(ax, 41.0, 38.3, "Untargeted: every image", ATTACKER)
    tile(ax, 44.5, 29.5, 5.0, "2")
    text(ax, 48.6, 29.5, "+", fs=9)
    noise_tile(ax, 52.8, 29.5, 5.0)
    text(ax, 56.9, 29.5, "=", fs=9)
    tile(ax, 61.0, 29.5, 5.0, "2", edge=RED)
    text(ax, 52.8, 24.6, r"small noise, $\Vert\delta\Vert_\infty \leq \epsilon$", fs=6.3)
    text(ax, 61.0, 34.4, "published", fs=5.9, color=SOFT)
    arrow(ax, (61.0, 26.6), (61.0, 22.0), head=6)
    box(ax, 41.5, 13.0, 27.5, 9.0, "the noise makes two views easy\nto match: the encoder "
        "learns\nthe noise, not the digit", NEUTRAL, fs=6.0)
    arrow(ax, (55.25, 13.0), (55.25, 9.5), head=6)
    box(ax, 43.5, 3.0, 23.5, 6.5, "poor features for\nevery downstream task", ATTACKER, fs=6.0)

    # defence: filter the inputs before pre-training
    line(ax, [71.0, 71.0], [1.0, 39.0], "#DDDDDD", lw=1.0)
    title(ax, 72.5, 38.3, "Defence: filter the inputs", DEFENDER)
    text(ax, 85.5, 33.8, "before pre-training, every image\npasses through", fs=5.9)
    box(ax, 73.0, 21.5, 25.5, 8.5, "squeeze: binarise, or a\nmedian filter; small noise\n"
             "does not survive", DEFENDER, fs=6.0)
    tile(ax, 76.5, 15.0, 4.4, "2", edge=RED)
    arrow(ax, (79.0, 15.0), (82.8, 15.0), DEFENDER, head=6)
    tile(ax, 85.3, 15.0, 4.4, "2")
    text(ax, 90.3, 15.0, "noise\ngone", fs=5.8, color=DEFENDER, ha="left")
    box(ax, 73.0, 2.0, 25.5, 7.0, "near-duplicate removal: drops\na target repeated in many "
        "poisons", DEFENDER, fs=6.0)


# --- 09 · evasion -----------------------------------------------------------------------------

def draw_09(ax):
    title(ax, 1.0, 38.3, "Input space")
    x0, y0, e = 13.5, 18.5, 7.0
    ax.add_patch(Rectangle((x0 - e, y0 - e), 2 * e, 2 * e, facecolor=tint(GREY, 0.12),
                           edgecolor=GREY, linestyle="--", linewidth=0.9, zorder=2))
    text(ax, x0, y0 - e - 1.8, r"every pixel within $\pm\epsilon$", fs=6.2, color=SOFT)
    text(ax, x0, y0 - e - 4.5, r"($\Vert\delta\Vert_\infty \leq \epsilon$)", fs=6.2, color=SOFT)
    dot(ax, x0, y0, BLUE, r=0.7)
    text(ax, x0 - 1.4, y0 - 1.6, "x", fs=7.5, color=BLUE, weight="bold")
    ax_, ay_ = x0 + e, y0 + e
    nx_, ny_ = x0 - e + 2.0, y0 + e - 2.5
    arrow(ax, (x0, y0), (ax_ - 0.4, ay_ - 0.4), RED, lw=1.3, head=6)
    dot(ax, ax_, ay_, RED, r=0.7)
    text(ax, ax_ - 1.5, ay_ + 2.3, "x + δ (chosen)", fs=6.2, color=RED, ha="left")
    arrow(ax, (x0, y0), (nx_ + 0.4, ny_ - 0.3), GREY, lw=1.1, head=6)
    dot(ax, nx_, ny_, GREY, r=0.7)
    text(ax, 1.0, 28.2, "x + noise\n(random, same size)", fs=5.9, color=SOFT, ha="left")

    enc = trapezoid(ax, 24.5, 13.5, 7.0, 10.0, "f", PROVIDER, fs=7.5)
    text(ax, enc.cx, 11.5, "encoder", fs=5.8, color=SOFT)
    arrow(ax, (21.3, y0), enc.left(), head=6)
    arrow(ax, enc.right(), (35.5, y0), head=6)

    title(ax, 36.0, 38.3, "Feature space: every downstream task")
    box(ax, 36.0, 2.0, 33.0, 33.5, color=NEUTRAL, fill="white", lw=0.8)
    line(ax, [47.5, 55.0], [35.5, 2.0], GREY, ls="--", lw=1.0)
    line(ax, [36.0, 69.0], [13.5, 24.5], GREY, ls="--", lw=1.0)
    text(ax, 51.0, 32.6, "task A's\nboundary", fs=5.6, color=SOFT, ha="left")
    text(ax, 67.8, 27.4, "task B's\nboundary", fs=5.6, color=SOFT, ha="right")
    fx, fy = 41.5, 26.0
    dot(ax, fx, fy, BLUE, r=0.8)
    text(ax, fx - 1.0, fy + 2.3, "f(x)", fs=6.5, color=BLUE, weight="bold")
    dot(ax, fx + 2.4, fy - 1.8, GREY, r=0.7)
    text(ax, fx + 1.2, fy - 5.0, "f(x + noise):\nbarely moves", fs=5.8, color=SOFT)
    dot(ax, 63.0, 9.0, RED, r=0.8)
    arrow(ax, (fx + 0.8, fy - 0.6), (62.3, 9.7), RED, lw=1.3, head=6, rad=-0.3)
    text(ax, 62.4, 4.4, "f(x + δ): far away,\nboth tasks flip", fs=5.9, color=RED)

    # randomised smoothing
    line(ax, [72.0, 72.0], [1.0, 39.0], "#DDDDDD", lw=1.0)
    title(ax, 73.5, 38.3, "Defence: randomised smoothing", DEFENDER)
    sx, sy, R = 84.0, 20.0, 7.0
    pts = [(-2.6, 1.4), (1.8, 2.9), (3.1, -1.2), (-0.8, -3.4), (0.9, 0.6), (-3.4, -1.1),
           (2.2, -3.6), (-1.6, 3.8), (4.0, 1.9), (-4.2, 2.2), (0.2, -1.8), (3.6, 4.0)]
    for px, py in pts:
        dot(ax, sx + px, sy + py, SKY, r=0.35)
    ax.add_patch(Circle((sx, sy), R, facecolor="none", edgecolor=GREEN, linewidth=1.3, zorder=4))
    dot(ax, sx, sy, BLUE, r=0.7)
    arrow(ax, (sx, sy), (sx + R * 0.707, sy - R * 0.707), GREEN, head=6)
    text(ax, sx + 3.6, sy - 5.2, "R", fs=7, color=GREEN, weight="bold")
    line(ax, [94.5, 97.5], [31.0, 12.0], GREY, ls="--", lw=1.0)
    text(ax, 96.5, 10.6, "boundary", fs=5.4, color=SOFT)
    text(ax, 84.0, 34.2, "vote over Gaussian noise\naround x", fs=5.9, color=SOFT)
    text(ax, 85.5, 7.6, r"certified: $R = \sigma\,\Phi^{-1}(p_A)$", fs=6.6, color=DEFENDER)
    text(ax, 85.5, 3.6, "no L2 perturbation inside\nthe ball changes the class", fs=5.8,
         color=INK)


# --- 10 · resource depletion ------------------------------------------------------------------

def _net(ax, x, y, on, color):
    """A small network: 4 layers of 5 units; ``on[l]`` lists the active units of layer l. Only
    the connections out of active units are drawn: the accelerator skips the rest."""
    xs = [x + 6.5 * i for i in range(4)]
    ys = [y + 2.6 * j for j in range(5)]
    ex, ey = [], []  # every connection in one path: a small file
    for i in range(3):
        for j in sorted(on[i]):
            for k in range(5):
                ex += [xs[i], xs[i + 1], math.nan]
                ey += [ys[j], ys[k], math.nan]
    line(ax, ex, ey, color, lw=0.6, z=2)
    px = [xs[i] for i in range(4) for j in range(5)]
    py = [ys[j] for i in range(4) for j in range(5)]
    faces = [color if j in on[i] else "white" for i in range(4) for j in range(5)]
    ax.scatter(px, py, s=60, c=faces, edgecolors=color, linewidths=0.8, zorder=5)


def draw_10(ax):
    title(ax, 1.0, 38.3, "Sponge examples: a sparsity-aware accelerator")
    text(ax, 1.0, 34.6, "skips the work of every zero activation", fs=6.0, ha="left", color=SOFT)
    cases = [(20.0, "natural\ninput", GREEN, [{0, 3}, {1, 3}, {2}, {1, 4}], 0.3,
              "few active units,\nmost work skipped:\ncheap"),
             (4.0, "sponge input\n(within ε of\na natural one)", RED,
              [{0, 1, 2, 3, 4}, {0, 1, 2, 4}, {0, 1, 2, 3, 4}, {0, 1, 3, 4}], 0.92,
              "most units active:\nmore energy, same\nanswer")]
    for y, lab, col, on, level, note in cases:
        t = tile(ax, 4.5, y + 5.2, 5.0, "2", edge=RED if col == RED else None)
        text(ax, 4.5, y - 0.6, lab, fs=5.8)
        arrow(ax, (t.r, t.cy), (10.5, t.cy), head=5)
        _net(ax, 12.0, y, on, col)
        ax.add_patch(Rectangle((36.0, y), 3.0, 10.5, facecolor="white", edgecolor=SOFT,
                               linewidth=0.8, zorder=3))
        ax.add_patch(Rectangle((36.0, y), 3.0, 10.5 * level, facecolor=col, edgecolor="none",
                               zorder=4))
        text(ax, 40.3, y + 7.0, note, fs=5.9, ha="left", color=col)
    text(ax, 37.5, 32.0, "energy", fs=5.9, color=SOFT)
    text(ax, 40.3, 17.2, "energy: only the\noperations on\nnon-zero inputs", fs=5.6,
         color=SOFT, ha="left")

    # early exit
    line(ax, [56.5, 56.5], [1.0, 39.0], "#DDDDDD", lw=1.0)
    title(ax, 58.0, 38.3, "Slowdown: an early-exit encoder")
    text(ax, 58.0, 33.4, "a query leaves at the first exit that is confident; the attack keeps\n"
         "every early exit's softmax close to uniform, so the query runs the full depth",
         fs=5.8, ha="left", color=SOFT)
    for yc, col, last in [(26.0, GREEN, 0), (9.0, RED, 2)]:
        t = tile(ax, 60.5, yc, 4.0, "1", edge=RED if col == RED else None)
        prev = (t.r, yc)
        for k in range(3):
            ran = k <= last
            st = box(ax, 64.5 + 10.5 * k, yc - 2.5, 7.5, 5.0,
                     f"stage {k + 1}" if ran else f"stage {k + 1}\n(not run)",
                     PROVIDER if ran else "#BBBBBB", fs=6.1, ls="-" if ran else "--",
                     fill=None if ran else "white", text_color=INK if ran else GREY)
            if ran:
                arrow(ax, prev, st.left(), col if k else INK, head=5, lw=1.2 if k else 1.1)
            prev = st.right()
            ex = box(ax, st.cx - 2.6, yc - 8.5, 5.2, 3.2, "exit", col if k == last else (
                "#BBBBBB" if not ran else NEUTRAL), fs=5.6, fill="white" if not ran else None)
            if ran:
                arrow(ax, st.bottom(), ex.top(), col if k == last else INK, head=5)
                if k == last == 0:
                    text(ax, ex.cx, ex.b - 1.6, "confident: answers", fs=5.5, color=col)
                else:
                    text(ax, ex.r + 0.6, ex.cy, "answers" if k == last else "unsure", fs=5.5,
                         ha="left", color=col if k == last else RED)
    text(ax, 60.5, 20.5, "natural", fs=5.6, color=GREEN)
    text(ax, 60.5, 3.5, "attacked", fs=5.6, color=RED)


#: chapter notebook stem -> its drawing
DRAWINGS: dict[str, Callable] = {
    "00_foundations": draw_00,
    "01_data_tracing": draw_01,
    "02_membership_inference": draw_02,
    "03_reconstruction": draw_03,
    "04_attribute_and_property_inference": draw_04,
    "05_hyperparameter_stealing": draw_05,
    "06_parameter_stealing": draw_06,
    "07_backdoors": draw_07,
    "08_poisoning": draw_08,
    "09_evasion": draw_09,
    "10_resource_depletion": draw_10,
}


def draw_all(out_dir: Path = FIGURES, png_dir: Path | None = None) -> list[Path]:
    """Draw every schematic into ``out_dir`` (and a PNG copy into ``png_dir``); the SVG paths."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    with mpl.rc_context():
        mpl.rcdefaults()  # the same output whatever the user's matplotlibrc says
        mpl.rcParams.update({"svg.hashsalt": "sslsec", "svg.fonttype": "none",
                             "font.family": "DejaVu Sans", "mathtext.fontset": "dejavusans"})
        for stem, draw in DRAWINGS.items():
            fig, ax = new_figure()
            draw(ax)
            path = out_dir / f"{stem}.svg"
            fig.savefig(path, format="svg", metadata={"Date": None}, facecolor="white")
            if png_dir is not None:
                Path(png_dir).mkdir(parents=True, exist_ok=True)
                fig.savefig(Path(png_dir) / f"{stem}.png", format="png", dpi=160,
                            facecolor="white")
            written.append(path)
    return written


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=FIGURES, help="folder for the SVG files")
    parser.add_argument("--png", type=Path, default=None, help="also write PNG copies here")
    args = parser.parse_args(argv)
    for path in draw_all(args.out, args.png):
        print(f"{path}  {path.stat().st_size / 1024:.1f} KiB")


if __name__ == "__main__":
    main()
