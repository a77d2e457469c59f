import matplotlib

matplotlib.use("Agg")

import pytest  # noqa: E402
import torch  # noqa: E402

from sslsec import viz  # noqa: E402
from sslsec.profiles import AugmentConfig  # noqa: E402


def test_image_grid_and_views(digits):
    fig = viz.image_grid(digits.x[:10], nrow=4, titles=[str(i) for i in range(10)])
    assert len(fig.axes) == 12
    fig = viz.augmented_views(digits.x[:2], AugmentConfig(flip_p=0), n_views=3)
    assert len(fig.axes) == 8
    fig = viz.strength_grid(digits.x[:1], AugmentConfig(), strengths=(0, 1), n_views=2)
    assert len(fig.axes) == 4


def test_embedding_plot_and_curve(digits):
    ax = viz.embedding_plot(digits.x[:200].flatten(1), digits.y[:200], method="pca")
    assert len(ax.collections) >= 1
    with pytest.raises(ValueError, match="method='umap'"):
        viz.embedding_plot(torch.rand(5, 3), torch.zeros(5), method="umap")
    assert len(viz.training_curve([3.0, 2.0]).lines) == 1


def test_threat_model_highlights_known_attackers():
    fig = viz.threat_model(highlight=["api", "poisoner"])
    reds = [t for t in fig.axes[0].texts if t.get_color() == "#cb181d"]
    assert len(reds) == 2
    with pytest.raises(ValueError, match="highlight='ghost'"):
        viz.threat_model(highlight="ghost")


def test_universal_patterns_figure():
    import matplotlib.pyplot as plt
    import pandas as pd

    patterns = {"standard": torch.rand(1, 1, 28, 28) * 0.3 - 0.15,
                "hardened": torch.rand(1, 3, 32, 32) * 0.3 - 0.15}
    rates = pd.DataFrame([{"encoder": e, "task": t, "UAP": 0.5, "random pattern": 0.1}
                          for e in patterns for t in ("a", "b")])
    fig = viz.universal_patterns(patterns, rates, 0.15)
    assert len(fig.axes) == 3 and fig.axes[0].get_title() == "UAP, standard encoder"
    plt.close(fig)


def test_chapter_01_figures_and_dial():
    import numpy as np
    import pandas as pd

    table = pd.DataFrame({"suspect": ["a", "a", "b", "b"], "group": ["g", "g", "i", "i"],
                          "method": ["m1", "m2", "m1", "m2"], "p-value": [1e-5, 0.3, 0.5, 0.9]})
    assert viz.audit_bars(table).get_xlabel() == "−log10 p"
    shares = table.assign(share=[1.0, 1.0, 0.1, 0.1])
    assert len(viz.power_by_share(shares).lines) >= 2
    assert len(viz.uniform_qq([0.1, 0.5, 0.9]).axes) == 2
    with pytest.raises(ValueError, match="p_values must be"):
        viz.uniform_qq([1.5])
    with pytest.raises(ValueError, match="table needs the columns"):
        viz.audit_bars(table.drop(columns="group"))
    trace = pd.DataFrame({"suspect": ["a", "b"], "group": ["guilty", "innocent"],
                          "mean response": [1e-2, 2e-4]})
    ax = viz.marking_trace_bars(trace, 2e-4)
    assert ax.get_xscale() == "log" and ax.lines[-1].get_xdata()[0] == 2e-4
    with pytest.raises(ValueError, match="trace needs the columns"):
        viz.marking_trace_bars(trace.drop(columns="group"), 1e-4)
    sweep = pd.DataFrame({"suspect": ["a", "b", "a", "b"], "images": [10, 10, 100, 100],
                          "p-value": [0.2, 0.5, 1e-4, 0.4]})
    dial = viz.audit_size_dial(sweep)
    before = dial.result.copy()
    assert np.isclose(before["a"], 4)
    dial.children[0].value = 10  # headless: move the slider, the chart follows
    assert not before.equals(dial.result) and np.isclose(dial.result["a"], -np.log10(0.2))
    with pytest.raises(ValueError, match="sweep needs the columns"):
        viz.audit_size_dial(sweep.drop(columns="images"))


def test_chapter_figures_moved_from_the_notebooks():
    """The chapters' figure helpers draw from small made-up results and return a Figure."""
    from types import SimpleNamespace

    import matplotlib.pyplot as plt
    import numpy as np
    import pandas as pd

    r = SimpleNamespace(fpr=np.array([0, 0.5, 1]), tpr=np.array([0, 0.7, 1]), auc=0.6,
                        member_scores=np.array([0.9, 0.95]), nonmember_scores=np.array([0.8]))
    figs = [viz.membership_roc_and_scores({"threshold": r, "set": r})]
    points = pd.DataFrame({"epoch": [1, 2, 1, 2], "membership AUC": [0.5, 0.6, 0.5, 0.7],
                           "augmentations": ["strong"] * 2 + ["weak augmentations"] * 2,
                           "linear probe": [0.8, 0.9, 0.8, 0.85]})
    figs.append(viz.leakage_over_training(points))
    exact = pd.DataFrame({"head": ["ridge", "logistic"], "true λ": [1.0, 1.0],
                          "stolen λ": [1.0, 1.1], "relative error": [0.0, 0.1]})
    figs.append(viz.stolen_vs_true_lambda(exact, [0.1, 1.0]))
    assert figs[-1].axes[1].get_legend().get_texts()[-1].get_text() == "1e-3"
    defences = pd.DataFrame({"defence": ["noise 1", "noise 1"], "task": ["a", "b"],
                             "users' cost": [0.01, 0.02], "attacker's cost": [0.1, 0.2]})
    figs.append(viz.defence_costs(defences))
    sweep = pd.DataFrame({"queries": [50, 600] * 4, "encoder": ["copy"] * 4 + ["own"] * 4,
                          "task": ["a", "a", "b", "b"] * 2, "accuracy": np.linspace(0.8, 0.9, 8)})
    figs.append(viz.stealing_against_baselines(sweep))
    assert [ax.get_title() for ax in figs[-1].axes] == ["a", "b"]
    with pytest.raises(ValueError, match="table needs the columns"):
        viz.stealing_against_baselines(sweep.drop(columns="task"))
    table = pd.DataFrame({"p-value": [0.5, 1e-3]}, index=["x", "y"])
    figs.append(viz.p_value_panels({"left": table, "right": table},
                                   lambda t, title, ax: ax.set_title(title)))
    assert [ax.get_title() for ax in figs[-1].axes] == ["left", "right"]
    figs.append(viz.probe_accuracy_heatmap(pd.DataFrame({"clean": {"enc": 0.9}})))
    rates = pd.DataFrame({"task": ["a", "a"], "ε": [0.1, 0.2], "PGD": [0.3, 0.6]})
    figs.append(viz.fooling_rate_by_epsilon(rates, rates, 0.1))
    figs.append(viz.certified_accuracy_curves({("hardened", 0.1): [0.9, 0.5],
                                               ("standard", 0.1): [0.7, 0.2]},
                                              [0.0, 0.1], 0.95, "a"))
    assert len(figs[-1].axes[0].lines) == 3
    clean = SimpleNamespace(success=0.0, target_probability=[1e-6, 0.2])
    attacks = pd.DataFrame({"attack": ["pairs"], "rate": [0.1], "success": [0.5]})
    figs.append(viz.poisoning_success(attacks, clean, {("pairs", 0.1): clean}))
    sweep = pd.DataFrame({"poisons per target": [0, 1, 4], "zero-shot success": [0, 0.2, 0.9],
                          "probe success": [0, 0.1, 0.7], "zero-shot accuracy": [0.96, 0.95, 0.94],
                          "probe accuracy": [0.97, 0.97, 0.96]})
    figs.append(viz.caption_poisoning_sweep(sweep, image_only_best=0.0))
    for fig in figs:
        assert isinstance(fig, matplotlib.figure.Figure)
        plt.close(fig)
