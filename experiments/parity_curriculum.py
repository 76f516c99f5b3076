"""Parity with a length curriculum: is it the pauses that a 2-layer transformer needs, or an easier road?

``pause_parity.py`` trains every arm on one length and finds them all at chance from n = 6. Parity is
known to be learnable by gradient descent from short strings up (its sensitivity grows with n), so
this probe trains the same two arms with a curriculum: the longest length n starts at 2 and grows by one
when the model's running accuracy at n passes 95 %; each batch is at n half the time, else at a shorter
length (so that shorter ones are not forgotten). Arms of one size, steps and seed:

    direct   the bits, then the answer position
    pause    the bits, ``--pauses-per-bit`` x n pause positions (never learned), then the answer

A small causal transformer of its own (pre-LN, learned positions, loss on the answer only), not ponder's
trainer: a probe of what is learnable, run in minutes. Held out: a string is evaluated only if the lab's
split (``problems.held_out``, one string in ten) holds it out, and training never draws one. Prints, per
arm, where the curriculum reached and held-out accuracy with a 95 % Wilson interval at each length.

Run: ``.venv/bin/python experiments/parity_curriculum.py [--steps 4000] [--max-bits 16] [--layers 2]
[--arms direct,pause]``
"""

from __future__ import annotations

import argparse
import time

from ponder.lab.metrics import wilson

WIDTH, HEADS, BATCH = 128, 4, 128
BIT0, BIT1, PAUSE, ANSWER = 0, 1, 2, 3


def split(bits, evaluation: bool):
    """Rows of ``bits`` in the training split, or with ``evaluation`` in the held-out one: the lab's own
    split (``problems.held_out`` of the string, as the parity task writes it). At 8 bits and more, a model
    right on held-out strings computes parity; one that memorised its training strings is not."""
    from ponder.lab.train.problems import held_out

    keep = [held_out("".join(map(str, row))) == evaluation for row in bits.tolist()]
    return bits[bits.new_tensor(keep, dtype=bool)]


def draw(torch, rows: int, n: int, pauses: int, generator, evaluation: bool):
    """Rows of ``n`` bits from the training or the held-out split, with their pauses and parity."""
    picked, tries = [], 0
    while sum(len(p) for p in picked) < rows:
        tries += 1
        if tries > 1000:  # a length so short that one split holds no string
            raise SystemExit(f"the {'held-out' if evaluation else 'training'} split holds no string of {n} bits")
        picked.append(split(torch.randint(0, 2, (4 * rows, n), generator=generator), evaluation))
    bits = torch.cat(picked)[:rows]
    ids = torch.cat([bits, torch.full((rows, pauses), PAUSE), torch.full((rows, 1), ANSWER)], 1)
    return ids, bits.sum(1) % 2


def model(torch, layers: int, positions: int):
    nn = torch.nn

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.ln1, self.ln2 = nn.LayerNorm(WIDTH), nn.LayerNorm(WIDTH)
            self.attention = nn.MultiheadAttention(WIDTH, HEADS, batch_first=True)
            self.mlp = nn.Sequential(nn.Linear(WIDTH, 4 * WIDTH), nn.GELU(), nn.Linear(4 * WIDTH, WIDTH))

        def forward(self, x, mask):
            h = self.ln1(x)
            x = x + self.attention(h, h, h, attn_mask=mask, need_weights=False)[0]
            return x + self.mlp(self.ln2(x))

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.tokens, self.positions = nn.Embedding(4, WIDTH), nn.Embedding(positions, WIDTH)
            self.blocks = nn.ModuleList(Block() for _ in range(layers))
            self.ln, self.out = nn.LayerNorm(WIDTH), nn.Linear(WIDTH, 2)

        def forward(self, ids):
            x = self.tokens(ids) + self.positions.weight[: ids.shape[1]]
            mask = torch.triu(torch.ones(ids.shape[1], ids.shape[1], dtype=torch.bool), 1)
            for block in self.blocks:
                x = block(x, mask)
            return self.out(self.ln(x[:, -1]))

    return Net()


def run_arm(args, pauses_per_bit: int) -> dict:
    import torch
    import torch.nn.functional as F

    torch.manual_seed(args.seed)
    net = model(torch, args.layers, args.max_bits * (1 + pauses_per_bit) + 1)
    opt = torch.optim.AdamW(net.parameters(), lr=args.lr, weight_decay=0.01)
    gen = torch.Generator().manual_seed(args.seed)
    longest, running, reached, start = 2, 0.5, {}, time.time()
    for step in range(1, args.steps + 1):
        for group in opt.param_groups:
            group["lr"] = args.lr * min(1.0, step / 100)
        at_longest = longest == 2 or torch.rand(1, generator=gen).item() < 0.5
        n = longest if at_longest else int(torch.randint(2, longest, (1,), generator=gen))
        ids, parity = draw(torch, BATCH, n, n * pauses_per_bit, gen, evaluation=False)
        logits = net(ids)
        loss = F.cross_entropy(logits, parity)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
        opt.step()
        if at_longest:
            running = 0.9 * running + 0.1 * (logits.argmax(1) == parity).float().mean().item()
            if running > 0.95 and longest < args.max_bits:
                reached[longest] = (step, time.time() - start)
                longest, running = longest + 1, 0.5
    held = torch.Generator().manual_seed(10_000 + args.seed)
    accuracy = {}
    with torch.no_grad():
        for n in range(8, args.max_bits + 1, 2):  # below 8 bits the held-out tenth is a handful of strings
            ids, parity = draw(torch, args.n, n, n * pauses_per_bit, held, evaluation=True)
            accuracy[n] = int((net(ids).argmax(1) == parity).sum())
    return {"reached": reached, "longest": longest, "running": running, "accuracy": accuracy,
            "seconds": time.time() - start}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=4000)
    parser.add_argument("--max-bits", type=int, default=16)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--pauses-per-bit", type=int, default=1)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--n", type=int, default=1000, help="held-out strings per length")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--arms", default="direct,pause", help="which arms to train: direct, pause or both")
    args = parser.parse_args()
    if args.max_bits < 8 or args.steps < 1 or args.n < 1:
        parser.error("--max-bits must be at least 8, --steps and --n at least 1")
    arms = args.arms.split(",")
    if any(a not in ("direct", "pause") for a in arms):
        parser.error(f"--arms takes direct, pause or both, comma-separated, got {args.arms!r}")
    if args.pauses_per_bit < 1 or args.layers < 1 or args.threads < 1 or args.lr <= 0:
        parser.error("--pauses-per-bit, --layers and --threads must be at least 1, --lr above 0")
    import torch

    torch.set_num_threads(args.threads)
    for name, per_bit in (("direct", 0), ("pause", args.pauses_per_bit)):
        if name not in arms:
            continue
        arm = run_arm(args, per_bit)
        steps = ", ".join(f"n={n} at {s}" for n, (s, _) in arm["reached"].items())
        print(f"{name}: {arm['seconds']:.0f} s, curriculum at n={arm['longest']} after {args.steps} steps, "
              f"running accuracy there {arm['running']:.0%} (passed: {steps or 'none'})")
        for n, right in arm["accuracy"].items():
            low, high = wilson(right, args.n)
            print(f"  n={n:2d}  held-out {right / args.n:6.1%}  [{low:.1%}, {high:.1%}]")


if __name__ == "__main__":
    main()
