"""``ponder report DIR``: the summary table (terminal, CSV, Markdown), the s1 metrics, plots and HTML."""

from __future__ import annotations

import base64
import csv
import html
import json
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from statistics import mean

from ..errors import PonderError
from .effort_table import COLUMNS as EFFORT_COLUMNS
from .effort_table import TABLE_FILE, read_table, table_rows
from .failures import settle, summary
from .metrics import S1Metrics, SettingSummary, s1_metrics, summarise

COLUMNS = ["setting", "n", "accuracy", "ci95", "thinking mean", "thinking p10-p90", "probes mean", "waits",
           "tokens/correct", "cost/correct", "s/answer"]


@dataclass(frozen=True)
class Report:
    title: str
    settings: list[SettingSummary]
    methods: list[S1Metrics]

    def rows(self) -> list[list[str]]:
        return [[
            s.label, str(s.n), f"{s.accuracy:.1%}", f"{s.ci_low:.0%}-{s.ci_high:.0%}", f"{s.thinking_mean:.1f}",
            f"{s.thinking_p10:.0f}-{s.thinking_p90:.0f}", f"{s.probe_mean:.1f}", f"{s.waits_mean:.1f}",
            "-" if s.tokens_per_correct is None else f"{s.tokens_per_correct:.0f}",
            "-" if s.cost_per_correct is None else f"${s.cost_per_correct:.6f}",
            f"{s.seconds_mean:.2f}",
        ] for s in self.settings]

    def method_rows(self) -> list[list[str]]:
        def num(v, fmt):
            return "-" if v is None else format(v, fmt)

        return [[m.policy, num(m.control, ".1%"), num(m.scaling_per_1k, "+.3f"), f"{m.performance:.1%}"]
                for m in self.methods]


METHOD_COLUMNS = ["method", "control", "scaling (acc/1k tokens)", "performance"]


def load_rows(folder: Path) -> tuple[dict, list[dict]]:
    """The sweep's config and its finished rows (failed generations left out)."""
    config, rows, _ = load_sweep(folder)
    return config, rows


def load_sweep(folder: Path) -> tuple[dict, list[dict], list[dict]]:
    """The sweep's config, its finished rows, and the failures no rerun has settled yet."""
    from .sweep import SweepConfig, SweepFolder, row_key

    saved = folder / "sweep.json"
    if not saved.exists():
        raise PonderError(f"{folder} has no sweep.json: pass the --out folder of a ponder sweep")
    config = SweepConfig.from_dict(json.loads(saved.read_text())["config"])
    rows, failed = settle(SweepFolder(folder, config).read_rows(), row_key)
    if not rows and failed:
        raise PonderError(f"{folder}: every generation failed ({len(failed)}), e.g. {failed[0]['error']}")
    if not rows:
        raise PonderError(f"{folder} has no rows yet: run the sweep first")
    return json.loads(saved.read_text())["config"], rows, failed


def build_report(config: dict, rows: list[dict]) -> Report:
    by_setting: dict[str, list[dict]] = defaultdict(list)
    for row in rows:
        by_setting[row["setting"]].append(row)
    settings = [summarise(group) for group in by_setting.values()]
    by_policy: dict[str, list[SettingSummary]] = defaultdict(list)
    for s in settings:
        by_policy[s.policy].append(s)
    methods = []
    for policy, group in by_policy.items():
        within = [r["within_budget"] for r in rows if r["policy"] == policy]
        points = [(s.spent_mean, s.accuracy) for s in group]
        methods.append(s1_metrics(policy, points, mean(within) if within else None))
    model = config.get("model") or "SmolLM2-135M-Instruct"
    title = f"{config['task']} · {model} · n={config['n']}"
    return Report(title, settings, methods)


def text_table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
    line = lambda cells: "  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths)))  # noqa: E731
    return "\n".join([line(header), line(["-" * w for w in widths]), *map(line, rows)])


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(out + ["| " + " | ".join(r) + " |" for r in rows])


def error_bars(group) -> list[list[float]]:
    """The 95 % interval around each accuracy, in points; never negative (rounding can put a bound past it)."""
    return [[max(0.0, 100 * (s.accuracy - s.ci_low)) for s in group],
            [max(0.0, 100 * (s.ci_high - s.accuracy)) for s in group]]


def plot_accuracy(report: Report, path: Path) -> None:
    """Accuracy against mean thinking tokens (probes included), one line per method, 95% intervals as bars.

    Adaptive thinking is drawn as points: its budget is a cap it may not reach, so its settings are not a curve.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.5, 4.8), dpi=120)
    by_policy: dict[str, list[SettingSummary]] = defaultdict(list)
    for s in report.settings:
        by_policy[s.policy].append(s)
    for (policy, group), marker in zip(by_policy.items(), "osD^v*<>ph"):
        group = sorted(group, key=lambda s: s.spent_mean)
        x = [s.spent_mean for s in group]
        y = [100 * s.accuracy for s in group]
        ax.errorbar(x, y, yerr=error_bars(group), marker=marker, markersize=7, capsize=3, linewidth=1.6, alpha=0.85,
                    label=policy, linestyle="-" if len(group) > 1 and policy != "adaptive" else "none")
    ax.set_xscale("symlog", linthresh=8)  # log scale that still shows 0 thinking tokens
    top = max([s.spent_mean for s in report.settings] + [1])
    ticks = [0] + [2**k for k in range(3, 16) if 2 ** (k - 1) < top]
    ax.set_xticks(ticks, [str(t) for t in ticks])
    ax.minorticks_off()
    ax.set_xlim(left=-0.5)
    ax.set_xlabel("mean thinking tokens per answer, probes included (log scale)")
    ax.set_ylabel("accuracy (%), 95% Wilson interval")
    ax.set_ylim(-2, 102)
    ax.set_title(report.title, fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(title="method", fontsize=9)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def plot_waits(report: Report, path: Path) -> bool:
    """Accuracy against the number of forced waits (s1's extrapolation), if the sweep has the waits method."""
    group = sorted((s for s in report.settings if s.policy == "waits"), key=lambda s: s.budget)
    if not group:
        return False
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.5, 4.5), dpi=120)
    x, y = [s.budget for s in group], [100 * s.accuracy for s in group]
    ax.errorbar(x, y, yerr=error_bars(group), marker="o", capsize=3, linewidth=1.6)
    for s in group:
        ax.annotate(f"{s.thinking_mean:.0f} tok", (s.budget, 100 * s.accuracy), textcoords="offset points",
                    xytext=(0, -16), ha="center", fontsize=7, color="#555")
    ax.set_xticks(x)
    ax.set_xlabel("forced waits (the model may not end its thinking before them)")
    ax.set_ylabel("accuracy (%), 95% Wilson interval")
    ax.set_ylim(-2, 102)
    ax.set_title(f"accuracy against waits · {report.title}", fontsize=10)
    ax.grid(True, alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return True


def plot_tokens(report: Report, rows: list[dict], path: Path) -> None:
    """The distribution of thinking tokens in each setting."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = [s.label for s in report.settings]
    data = [[r["thinking_tokens"] for r in rows if r["setting"] == lab] for lab in labels]
    fig, ax = plt.subplots(figsize=(max(6.0, 0.55 * len(labels) + 2), 4.5), dpi=120)
    ax.boxplot(data, showmeans=True)
    ax.set_xticks(range(1, len(labels) + 1), labels, rotation=45, ha="right", fontsize=8)
    ax.set_ylabel("thinking tokens per answer")
    ax.set_xlabel("setting (method@budget)")
    ax.set_title(f"thinking tokens by setting · {report.title}", fontsize=10)
    ax.grid(True, axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def write_html(report: Report, folder: Path, images: list[Path], failures: str = "") -> Path:
    def table(header, rows):
        head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
        body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>" for r in rows)
        return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"

    figures = "".join(
        f'<figure><img alt="{p.stem}" src="data:image/png;base64,{base64.b64encode(p.read_bytes()).decode()}">'
        f"<figcaption>{p.name}</figcaption></figure>" for p in images
    )
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>ponder report: {html.escape(report.title)}</title>
<style>body{{font-family:system-ui,sans-serif;margin:2rem auto;max-width:960px;color:#222}}
table{{border-collapse:collapse;margin:1rem 0}}td,th{{border:1px solid #ccc;padding:.3rem .6rem;text-align:right}}
td:first-child,th:first-child{{text-align:left}}img{{max-width:100%}}figure{{margin:1.5rem 0}}</style></head>
<body><h1>ponder report</h1><p>{html.escape(report.title)}</p>
<h2>Settings</h2>{table(COLUMNS, report.rows())}
<h2>s1 metrics per method</h2>{table(METHOD_COLUMNS, report.method_rows())}
{f"<h2>Failed generations</h2><p>{html.escape(failures)}</p>" if failures else ""}
<h2>Plots</h2>{figures}</body></html>
"""
    path = folder / "report.html"
    path.write_text(page, encoding="utf-8")
    return path


def write_report(folder: str | Path) -> tuple[str, dict[str, Path]]:
    """Write every report file into ``folder``; return the terminal text and the paths."""
    folder = Path(folder)
    config, rows, failed = load_sweep(folder)
    report = build_report(config, rows)
    failures = f"\n{summary(failed)}\n" if failed else ""
    paths = {
        "csv": folder / "summary.csv", "markdown": folder / "summary.md",
        "plot": folder / "accuracy.png", "tokens": folder / "thinking_tokens.png",
    }
    with open(paths["csv"], "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(COLUMNS)
        writer.writerows(report.rows())
    efforts = read_table(folder)  # written by ponder calibrate, when it ran on this folder
    efforts_md = "" if efforts is None else \
        f"\n## Effort levels\n\n{markdown_table(EFFORT_COLUMNS, table_rows(efforts))}\n"
    paths["markdown"].write_text(
        f"# {report.title}\n\n{markdown_table(COLUMNS, report.rows())}\n\n"
        f"{markdown_table(METHOD_COLUMNS, report.method_rows())}\n{efforts_md}{failures}"
    )
    plot_accuracy(report, paths["plot"])
    plot_tokens(report, rows, paths["tokens"])
    images = [paths["plot"], paths["tokens"]]
    if plot_waits(report, folder / "waits.png"):
        paths["waits"] = folder / "waits.png"
        images.insert(1, paths["waits"])
    paths["html"] = write_html(report, folder, images, failures.strip())
    parts = [report.title, text_table(COLUMNS, report.rows()), text_table(METHOD_COLUMNS, report.method_rows())]
    if efforts is not None:
        parts.append(f"effort levels ({TABLE_FILE}):\n" + text_table(EFFORT_COLUMNS, table_rows(efforts)))
    if failures:
        parts.append(failures.strip())
    return "\n\n".join(parts), paths
