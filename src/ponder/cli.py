"""The ``ponder`` command line. Errors a user can fix print one line and exit with status 2."""

from __future__ import annotations

import argparse
import importlib
import json
import sys

from .errors import PonderError
from .formats import FORMAT_HELP

USAGE_ERROR = 2
SUBCOMMANDS = ["ponder.lab.cli", "ponder.server.cli"]  # modules with a ``register(subparsers)`` function


def tokens(text: str) -> int | str:
    """A number of tokens, or a relative budget's expression (checked with the other options)."""
    try:
        return int(text)
    except ValueError:
        return text


def add_thinking_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("thinking")
    g.add_argument("--min-think", type=tokens, metavar="N", help="at least N thinking tokens (waits injected); "
                                                                 'or relative: "0.5p+256", "25%%ctx"')
    g.add_argument("--max-think", type=tokens, metavar="N", help="at most N thinking tokens, then the wrap-up; "
                                                                 'or relative to the prompt (p) or context (ctx)')
    g.add_argument("--wait", action="append", metavar="TEXT", help="wait string, repeat for a cycle (default: Wait)")
    g.add_argument("--max-waits", type=int, metavar="N", help="inject at most N wait strings")
    g.add_argument("--wrap-up", metavar="TEXT", help="answer lead forced at the cap (default: the format's)")
    g.add_argument("--soft-close", type=int, metavar="N",
                   help="at the cap, write on up to N tokens to the end of a word (--close-at), then the wrap-up")
    g.add_argument("--close-at", choices=["word", "line", "sentence"], help="the soft close's boundary (default: word)")
    g.add_argument("--prefix", metavar="TEXT", help='open the thinking with TEXT, e.g. "Ok, so"')
    g.add_argument("--countdown", type=int, metavar="K", help="every K thinking tokens, a notice of the tokens left "
                                                             "(needs --max-think)")
    g.add_argument("--countdown-text", metavar="TEXT", help='the notice, {left} the tokens left (default: '
                                                            '"\n({left} thinking tokens left)\n")')
    g.add_argument("--filler", type=int, metavar="N", help="N filler units as thinking (dot by dot)")
    g.add_argument("--filler-text", metavar="TEXT", help="the filler unit (default: .)")
    g.add_argument("--filler-where", choices=["replace", "before_end"],
                   help="replace the thinking (default), or go between the thinking and its end marker")
    g.add_argument("--pause", type=int, metavar="K", help="K pause units at the start of the answer")
    g.add_argument("--pause-text", metavar="TEXT", help='the pause unit (default: " ...")')
    g.add_argument("--pause-every", type=int, metavar="M", help="pause again every M sampled answer tokens")
    g.add_argument("--entropy-pause", type=float, metavar="BITS", help="inject a pause where entropy > BITS")
    g.add_argument("--varentropy-max", type=float, metavar="V", help="... and varentropy < V")
    g.add_argument("--entropy-text", metavar="TEXT", help='what the entropy pause injects (default: " ...")')
    g.add_argument("--entropy-cooldown", type=int, metavar="N", help="sampled tokens between pauses (default: 8)")
    g.add_argument("--entropy-max", type=int, metavar="N", help="at most N entropy pauses (default: 4)")
    g.add_argument("--entropy-phase", choices=["thinking", "answer", "both"],
                   help="where the entropy pause acts (default: thinking)")
    g.add_argument("--no-think", action="store_true", help="prefill an empty thought: answer at once")
    g.add_argument("--adaptive", action="store_true",
                   help="probe the answer as the model thinks and stop once it settles (--max-think: the cap)")
    g.add_argument("--adaptive-every", type=int, metavar="K", help="thinking tokens between probes (default: 32)")
    g.add_argument("--adaptive-agree", type=int, metavar="M", help="stop when M probes in a row agree (default: 2)")
    g.add_argument("--adaptive-probe-tokens", type=int, metavar="P",
                   help="answer tokens a probe may write (default: 16)")


def add_model_options(p: argparse.ArgumentParser) -> None:
    from .backends import CHOICES

    g = p.add_argument_group("model")
    g.add_argument("--model", metavar="PATH", help="GGUF file or HF folder (default: embedded SmolLM2-135M-Instruct)")
    g.add_argument("--backend", default="auto", choices=CHOICES)
    g.add_argument("--n-ctx", type=int, default=4096, metavar="N", help="context window (default: 4096)")
    g.add_argument("--format", default="think", metavar="NAME", help=FORMAT_HELP)
    add_placement_options(g)
    g.add_argument("--endpoint", metavar="URL", help="an OpenAI-compatible server to drive with the s1 loop, "
                                                      "e.g. http://127.0.0.1:8000/v1 (--model: its model name)")


def add_placement_options(g) -> None:
    """Where a local model runs: the same three options on every command that loads one."""
    g.add_argument("--device", default="auto", metavar="DEVICE",
                   help="auto (a GPU when there is one), cpu, cuda, cuda:N or mps (default: auto)")
    g.add_argument("--dtype", default="auto", metavar="TYPE",
                   help="transformers' weights: auto (bfloat16 on a GPU that has it, float32 on the CPU), bfloat16, "
                        "float16 or float32 (default: auto)")
    g.add_argument("--gpu-layers", type=int, metavar="N",
                   help="llama.cpp: layers offloaded to the GPU, -1 all (default: all when its build can offload)")


def add_sampling_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("sampling")
    g.add_argument("--max-tokens", type=int, default=1024, metavar="N", help="completion limit, all phases")
    g.add_argument("--temperature", type=float, default=0.0, help="0 = greedy (default)")
    g.add_argument("--top-p", type=float, default=1.0)
    g.add_argument("--top-k", type=int, default=0)
    g.add_argument("--seed", type=int)


def thinking_from_args(args: argparse.Namespace):
    """The policies the options ask for (``False`` for no thinking)."""
    from .options import thinking_from_options

    return thinking_from_options(vars(args), lambda option: "--" + option.replace("_", "-"))


class Printer:
    """Streams the thinking (dimmed on a terminal) and then the answer."""

    def __init__(self, out) -> None:
        self.out, self.phase = out, None
        tty = out.isatty()
        self.dim, self.bold, self.reset = ("\033[2m", "\033[1m", "\033[0m") if tty else ("", "", "")

    def __call__(self, phase: str, text: str) -> None:
        if phase != self.phase:
            if self.phase is not None:
                self.out.write(self.reset + "\n")
            self.out.write(f"{self.bold}── {phase} ──{self.reset}\n" + (self.dim if phase == "thinking" else ""))
            self.phase = phase
        self.out.write(text)
        self.out.flush()

    def finish(self, result) -> None:
        u = result.usage
        probes = f" · probes {len(result.probes)} ({u.probe_tokens} tokens, cut back out)" if result.probes else ""
        self.out.write(self.reset + "\n\n")
        self.out.write(
            f"{self.dim}thinking {u.thinking_tokens} tokens ({u.thinking_injected} injected, waits {result.waits})"
            f"{probes} · answer {u.answer_tokens} · prompt {u.prompt_tokens}"
            f" · {u.completion_tokens} tokens in {result.decode_seconds:.2f} s ({result.tokens_per_second:.0f} tok/s)"
            f" · capped: {'yes' if result.capped else 'no'} · finish: {result.finish_reason}{self.reset}\n"
        )


def cmd_generate(args: argparse.Namespace) -> int:
    from . import generate

    thinking = thinking_from_args(args)
    schema = read_schema(args.json_schema) if args.json_schema else None
    printer = None if args.json else Printer(sys.stdout)
    result = generate(
        args.question, model=args.model, thinking=thinking, backend=args.backend, n_ctx=args.n_ctx,
        format=args.format, max_tokens=args.max_tokens, temperature=args.temperature, top_p=args.top_p,
        top_k=args.top_k, seed=args.seed, system=args.system, raw_prompt=args.raw, on_text=printer,
        endpoint=args.endpoint, device=args.device, dtype=args.dtype, gpu_layers=args.gpu_layers,
        answer_schema=schema,
    )
    if args.json:
        print(json.dumps(result.to_dict(), indent=2, ensure_ascii=False))
    else:
        printer.finish(result)
    return 0


def read_schema(path: str) -> dict:
    """The answer's JSON Schema from a file (``-`` reads it from standard input)."""
    try:
        text = sys.stdin.read() if path == "-" else open(path, encoding="utf-8").read()
    except OSError as err:
        raise PonderError(f"cannot read the JSON Schema {path}: {err.strerror}") from None
    try:
        schema = json.loads(text)
    except json.JSONDecodeError as err:
        raise PonderError(f"{path} is not JSON ({err.msg} at line {err.lineno}): give a JSON Schema file") from None
    if not isinstance(schema, dict):
        raise PonderError(f"{path} holds a JSON {type(schema).__name__}, not a JSON Schema object")
    return schema


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ponder", description="Control how long a language model thinks.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    gen = sub.add_parser("generate", help="answer one question with a thinking policy")
    gen.add_argument("question")
    gen.add_argument("--system", metavar="TEXT", help="a system message before the format's instruction")
    gen.add_argument("--raw", action="store_true", help="send QUESTION as the whole prompt (it opens the thinking)")
    gen.add_argument("--json", action="store_true", help="print the result object as JSON")
    gen.add_argument("--json-schema", metavar="FILE",
                     help="hold the answer (after the thinking) to the JSON Schema in FILE: it always parses")
    add_model_options(gen)
    add_thinking_options(gen)
    add_sampling_options(gen)
    gen.set_defaults(func=cmd_generate)
    for module in SUBCOMMANDS:  # each surface registers its own subcommands (argparse only, no heavy imports)
        importlib.import_module(module).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except PonderError as err:
        print(f"ponder: error: {err}", file=sys.stderr)
        return USAGE_ERROR
    except KeyboardInterrupt:
        print("ponder: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
