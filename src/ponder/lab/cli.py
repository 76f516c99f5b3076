"""``ponder sweep`` and ``ponder report``."""

from __future__ import annotations

import argparse
import sys

from ..formats import FORMAT_HELP


def int_list(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(x) for x in text.split(",") if x.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated whole numbers, got {text!r}") from None


def name_list(text: str) -> tuple[str, ...]:
    return tuple(x.strip() for x in text.split(",") if x.strip())


def register(sub) -> None:
    from ..backends import CHOICES
    from ..cli import add_placement_options
    from .sweep import METHODS, SweepConfig

    d = SweepConfig()
    p = sub.add_parser("sweep", help="run tasks x policies x budgets and report accuracy against thinking tokens")
    p.add_argument("--task", default=d.task, help=f"task name, or SCHEMA:PATH for a JSONL file (default: {d.task})")
    p.add_argument("--policy", type=name_list, default=d.policies, metavar="P[,P...]",
                   help=f"methods from {', '.join(METHODS)} (default: {','.join(d.policies)})")
    p.add_argument("--budgets", type=int_list, default=d.budgets, metavar="B[,B...]",
                   help=f"thinking budgets, increasing (default: {','.join(map(str, d.budgets))})")
    p.add_argument("--waits", type=int_list, default=d.waits, metavar="W[,W...]",
                   help=f"numbers of forced waits for the waits method (default: {','.join(map(str, d.waits))})")
    p.add_argument("--n", type=int, default=d.n, help=f"items (default: {d.n})")
    p.add_argument("--samples", type=int, default=d.samples, help="generations per item and setting")
    p.add_argument("--seed", type=int, default=d.seed, help="task and sampling seed")
    p.add_argument("--out", default="runs/sweep", help="output folder; rerun to resume (default: runs/sweep)")
    p.add_argument("--model", help="GGUF file, HF folder, or smollm2 for the embedded SmolLM2-135M-Instruct "
                                    f"(default: {d.model}); with --endpoint, the served model's name")
    p.add_argument("--endpoint", metavar="URL[,URL...]",
                   help="run on OpenAI-compatible servers (e.g. vLLM at http://127.0.0.1:8000/v1; several URLs: "
                        "replicas of one model, the work spread over them)")
    p.add_argument("--steer", default="auto", choices=["auto", "plugin", "loop"],
                   help="with --endpoint: ponder's vLLM plugin steers inside the engine (every policy), or the s1 "
                        "loop drives any server; auto asks each server (default: auto)")
    p.add_argument("--concurrency", type=int, default=1, metavar="C",
                   help="with --endpoint: generations kept in flight on each server (default: 1)")
    p.add_argument("--batch-size", type=int, metavar="B", help="local model: generations per forward pass "
                   "(default: what suits the model; 1 is the exact, reproducible mode)")
    p.add_argument("--no-prefix-cache", action="store_true",
                   help="local model: evaluate every prompt whole (by default a row keeps its cache for the next "
                        "prompt that starts the same, which can move logits in their last bits)")
    p.add_argument("--backend", default="auto", choices=CHOICES)
    add_placement_options(p)
    p.add_argument("--format", default=d.format, help=FORMAT_HELP)
    p.add_argument("--temperature", type=float, default=d.temperature)
    p.add_argument("--top-p", type=float, default=d.top_p)
    p.add_argument("--price-input", type=float, metavar="USD", help="dollars per million prompt tokens")
    p.add_argument("--price-output", type=float, metavar="USD", help="dollars per million completion tokens")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_sweep)

    r = sub.add_parser("report", help="summary table, s1 metrics, plots and HTML for a sweep folder")
    r.add_argument("folder")
    r.set_defaults(func=cmd_report)

    c = sub.add_parser("calibrate", help="effort levels from a sweep: the cheapest setting reaching each share "
                                         "of the best accuracy, as a table for ponder serve --efforts")
    c.add_argument("folder", metavar="RUN_DIR", help="the --out folder of a ponder sweep")
    c.add_argument("--price-input", type=float, metavar="USD",
                   help="dollars per million prompt tokens (default: the sweep's; no prices: cost in tokens)")
    c.add_argument("--price-output", type=float, metavar="USD",
                   help="dollars per million completion and probe tokens (default: the sweep's)")
    c.add_argument("--out", metavar="FILE", help="where to write the table (default: RUN_DIR/efforts.json)")
    c.set_defaults(func=cmd_calibrate)

    lab = sub.add_parser("lab", help="train tiny reasoning models").add_subparsers(dest="lab", required=True,
                                                                                  metavar="LAB_COMMAND")
    register_train(lab)


def register_train(lab) -> None:
    from .train.problems import TASKS
    from .train.traces import FORMATS
    from .train.trainer import TrainConfig

    d = TrainConfig()
    t = lab.add_parser("train", help="train a small model from scratch on a synthetic task (CPU)")
    t.add_argument("--task", default=d.task, help=f"one of {', '.join(TASKS)} (default: {d.task})")
    t.add_argument("--format", default=d.format,
                   help=f"trace format: {', '.join(FORMATS)}, or a mix such as cot+filler (default: {d.format})")
    t.add_argument("--difficulty", type=int, help="digits (addition, multiplication) or list length (3sum)")
    t.add_argument("--steps", type=int, default=d.steps, help=f"optimizer steps (default: {d.steps})")
    t.add_argument("--batch", type=int, default=d.batch)
    t.add_argument("--lr", type=float, default=d.lr)
    t.add_argument("--hidden", type=int, default=d.hidden)
    t.add_argument("--layers", type=int, default=d.layers)
    t.add_argument("--heads", type=int, default=d.heads)
    t.add_argument("--seed", type=int, default=d.seed)
    t.add_argument("--threads", type=int, default=d.threads, help=f"CPU threads (default: {d.threads})")
    t.add_argument("--save-every", type=int, default=d.save_every, metavar="N", help="checkpoint every N steps")
    t.add_argument("--out", required=True, help="output folder (a Hugging Face model folder); rerun to resume")
    t.add_argument("--no-progress", action="store_true")
    t.set_defaults(func=cmd_train)


def cmd_train(args: argparse.Namespace) -> int:
    from .train.trainer import TrainConfig, train

    config = TrainConfig(task=args.task, format=args.format, difficulty=args.difficulty, steps=args.steps,
                         batch=args.batch, lr=args.lr, hidden=args.hidden, layers=args.layers, heads=args.heads,
                         seed=args.seed, save_every=args.save_every, threads=args.threads)
    try:
        summary = train(config, args.out, progress=not args.no_progress)
    except KeyboardInterrupt:
        print(f"ponder: interrupted; run the same command to resume from the last checkpoint in {args.out}",
              file=sys.stderr)
        return 130
    print(f"trained {args.out}: loss {summary['final_loss']:.4f}, {summary['steps_run']} steps in "
          f"{summary['seconds']} s ({summary['tokens_per_second']} tokens/s)")
    return 0


def cmd_sweep(args: argparse.Namespace) -> int:
    from .sweep import SweepConfig, run_sweep

    config = SweepConfig(
        task=args.task, policies=args.policy, budgets=args.budgets, waits=args.waits, n=args.n, samples=args.samples,
        seed=args.seed, model=args.model if args.model or args.endpoint else SweepConfig().model,
        backend=args.backend, format=args.format, endpoint=args.endpoint, steer=args.steer,
        temperature=args.temperature, top_p=args.top_p, price_input=args.price_input,
        price_output=args.price_output, device=args.device, dtype=args.dtype, gpu_layers=args.gpu_layers,
    )
    try:
        run_sweep(config, args.out, progress=not args.no_progress, concurrency=args.concurrency,
                  batch_size=args.batch_size, prefix_cache=not args.no_prefix_cache)
    except KeyboardInterrupt:
        print(f"ponder: interrupted; the rows written so far are in {args.out}: run the same command to resume",
              file=sys.stderr)
        return 130
    return show_report(args.out)


def cmd_calibrate(args: argparse.Namespace) -> int:
    from .calibrate import calibrate, write_table
    from .effort_table import COLUMNS, table_rows
    from .report import text_table

    table = calibrate(args.folder, args.price_input, args.price_output)  # every check before anything is written
    path = write_table(table, args.out, args.folder)
    print(f"best accuracy {table['best_accuracy']:.1%}; cost in {table['cost']}\n")
    print(text_table(COLUMNS, table_rows(table)))
    print(f"\nefforts: {path} (ponder serve --efforts {path})")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    return show_report(args.folder)


def show_report(folder: str) -> int:
    from .report import write_report

    text, paths = write_report(folder)
    print(text)
    print(f"\nplot: {paths['plot']}\nreport: {paths['html']}")
    return 0

