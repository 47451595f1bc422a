"""``python _charts.py SUITE.json OUT.png``: one horizontal bar chart per
entry of the suite's ``charts`` list (needs matplotlib; ``run.py`` runs it
under ``.venv-peers``)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

OURS_COLOR, PEER_COLOR = "#1f77b4", "#b0b0b0"


def label_of(value: float) -> str:
    return f"{value:,.0f}" if value >= 100 else f"{value:.3g}"


def main() -> None:
    doc = json.loads(Path(sys.argv[1]).read_text())
    charts = doc["charts"]
    if len(charts) == len(doc["cases"]):  # one chart per case: show what failed too
        for chart, case in zip(charts, doc["cases"], strict=True):
            failed = [n for n, r in case["results"].items() if "error" in r]
            chart["bars"] = chart["bars"] + [[f"{n} (failed)", 0] for n in failed]
    charts = [c for c in charts if c["bars"]]
    if not charts:
        charts = [{"title": "no contender finished", "bars": []}]
    heights = [max(1.6, 0.38 * len(c["bars"]) + 0.9) for c in charts]
    fig, axes = plt.subplots(
        len(charts),
        1,
        figsize=(10, sum(heights)),
        gridspec_kw={"height_ratios": heights},
        squeeze=False,
    )
    for ax, chart in zip(axes[:, 0], charts, strict=True):
        labels = [b[0] for b in chart["bars"]]
        values = [b[1] for b in chart["bars"]]
        colors = [OURS_COLOR if label.startswith("ours") else PEER_COLOR for label in labels]
        ax.barh(range(len(values)), values, color=colors)
        ax.set_yticks(range(len(values)), labels, fontsize=8)
        ax.invert_yaxis()
        ax.set_title(chart["title"], fontsize=9, loc="left")
        ax.tick_params(axis="x", labelsize=8)
        for i, (label, v) in enumerate(zip(labels, values, strict=True)):
            text = "failed" if label.endswith("(failed)") else label_of(v)
            ax.text(v, i, f" {text}", va="center", fontsize=7)
        if values:
            ax.set_xlim(0, max(values) * 1.18)
    mode = "quick smoke run" if doc.get("quick") else f"median of {doc.get('runs')}"
    fig.suptitle(f"{doc['title']} ({mode})", fontsize=10)
    fig.tight_layout()
    fig.savefig(sys.argv[2], dpi=110)


if __name__ == "__main__":
    main()
