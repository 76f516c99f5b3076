"""``ponder serve``: start the OpenAI-compatible server."""

from __future__ import annotations

import argparse
import socket

from ..errors import PonderError
from ..formats import FORMAT_HELP


def register(sub) -> None:
    from ..backends import CHOICES
    from ..cli import add_placement_options
    from .settings import ServerSettings

    d = ServerSettings()
    p = sub.add_parser("serve", help="serve an OpenAI-compatible API with per-request thinking budgets")
    p.add_argument("--model", help="GGUF file or HF folder (default: embedded SmolLM2-135M-Instruct)")
    p.add_argument("--backend", default=d.backend, choices=CHOICES)
    p.add_argument("--n-ctx", type=int, default=d.n_ctx, metavar="N", help=f"context window (default: {d.n_ctx})")
    p.add_argument("--format", default=d.format, metavar="NAME", help=FORMAT_HELP)
    p.add_argument("--host", default=d.host, help=f"address to bind (default: {d.host}, this machine only)")
    p.add_argument("--port", type=int, default=d.port, help=f"port (default: {d.port})")
    p.add_argument("--api-key", metavar="KEY",
                   help="require 'Authorization: Bearer KEY' (default: env PONDER_API_KEY, else no key)")
    p.add_argument("--allowed-hosts", metavar="NAMES",
                   help="comma-separated Host names served besides this address and localhost, against DNS "
                        "rebinding (.lan: it and its subdomains; *: any)")
    p.add_argument("--allow-origin", metavar="ORIGINS",
                   help="comma-separated web origins (https://app.example) whose pages may call the API, with "
                        "CORS headers; pages elsewhere are refused (*: any)")
    p.add_argument("--price-input", type=float, metavar="USD", help="dollars per million prompt tokens")
    p.add_argument("--price-output", type=float, metavar="USD",
                   help="dollars per million completion tokens (thinking included)")
    p.add_argument("--max-tokens", type=int, default=d.max_tokens, metavar="N",
                   help=f"largest completion a request may ask for, and the default (default: {d.max_tokens})")
    p.add_argument("--max-prompt-tokens", type=int, default=d.max_prompt_tokens, metavar="N",
                   help=f"longest prompt accepted (default: {d.max_prompt_tokens})")
    p.add_argument("--max-body-bytes", type=int, default=d.max_body_bytes, metavar="N",
                   help=f"largest request body (default: {d.max_body_bytes})")
    p.add_argument("--max-queue", type=int, default=d.max_queue, metavar="N",
                   help=f"requests waiting or running before 429s (default: {d.max_queue})")
    p.add_argument("--max-n", type=int, default=d.max_n, metavar="N", help=f"choices per request (default: {d.max_n})")
    p.add_argument("--batch-size", type=int, metavar="B",
                   help="generations decoded together, each request joining at the next step (default: what suits "
                        "the model; 1 runs requests one at a time, the exact, reproducible mode)")
    p.add_argument("--no-prefix-cache", action="store_true",
                   help="evaluate every prompt whole: a batched row keeps its cache when its request ends, and a "
                        "request whose prompt starts the same (a chat's next turn) evaluates only the rest, "
                        "which can move logits in their last bits")
    p.add_argument("--threads", type=int, metavar="N", help="CPU threads for the model (default: the physical cores)")
    add_placement_options(p)
    p.add_argument("--efforts", metavar="FILE",
                   help="what reasoning_effort stands for: an effort table from ponder calibrate (default: fixed "
                        "budgets)")
    p.add_argument("--reasoning-field", default="both", choices=["both", "reasoning_content", "reasoning"],
                   help="the name(s) the thinking is returned under in messages and stream deltas (default: both)")
    p.add_argument("--log-level", default="warning", choices=["critical", "error", "warning", "info", "debug"],
                   help="uvicorn's log level (default: warning)")
    p.set_defaults(func=cmd_serve)


def cmd_serve(args: argparse.Namespace) -> int:
    from .settings import REASONING_FIELDS, ServerSettings, api_key_from_env, names

    settings = ServerSettings(
        model=args.model, backend=args.backend, n_ctx=args.n_ctx, format=args.format, host=args.host,
        port=args.port, api_key=api_key_from_env(args.api_key), price_input=args.price_input,
        price_output=args.price_output, max_tokens=args.max_tokens, max_prompt_tokens=args.max_prompt_tokens,
        max_body_bytes=args.max_body_bytes, max_queue=args.max_queue, max_n=args.max_n,
        batch_size=args.batch_size, threads=args.threads, device=args.device, dtype=args.dtype,
        gpu_layers=args.gpu_layers, prefix_cache=not args.no_prefix_cache,
        reasoning_fields=REASONING_FIELDS if args.reasoning_field == "both" else (args.reasoning_field,),
        efforts=args.efforts, allowed_hosts=names(args.allowed_hosts), allow_origins=names(args.allow_origin),
    )
    try:
        import uvicorn

        from .app import create_app
    except ImportError as err:
        raise PonderError(f"ponder serve needs FastAPI and uvicorn ({err}): pip install 'ponder[serve]'") from err
    from ..formats import get_format
    from .guard import warn_if_exposed

    get_format(settings.format)  # an unknown format fails now, not on the first request
    check_address(settings.host, settings.port)
    warn_if_exposed(settings.host, settings.api_key)  # before the model loads, which can take a while
    app = create_app(settings)
    print(f"ponder: serving {settings.model_id} on http://{display(settings.host)}:{settings.port} "
          f"(playground at /, API at /v1){' - API key required' if settings.api_key else ''}", flush=True)
    config = uvicorn.Config(app, host=settings.host, port=settings.port, log_level=args.log_level,
                            timeout_graceful_shutdown=5)
    server = uvicorn.Server(config)
    try:
        server.run()
    except SystemExit:  # uvicorn exits when it cannot bind after all (a race with another process)
        if server.started:
            raise
    if not server.started:
        raise PonderError(f"cannot listen on {settings.host}:{settings.port}: is the port taken? try another --port")
    return 0


def check_address(host: str, port: int) -> None:
    """Bind once before loading anything, so a taken port or a bad host is one clear line."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
        family, kind, proto, _, address = infos[0]
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
            probe.bind(address)
    except OSError as err:
        raise PonderError(f"cannot listen on {host}:{port} ({err.strerror or err}): "
                          "pick another --port or --host") from None


def display(host: str) -> str:
    return f"[{host}]" if ":" in host else host


__all__ = ["register", "PonderError"]
