"""`wavegan search | vary` and `generate --latent`: sounds found by example, and variations of them."""
from __future__ import annotations

import sys


def cmd_search(args):
    from models.steer import search_wavs
    summary = search_wavs(args.model, args.like, args.out, n=args.n, label=args.label, seed=args.seed)
    if summary["note"]:
        print(f"note: {summary['note']}", file=sys.stderr)
    for match in summary["matches"]:
        print(f"{match['wav']}  distance {match['distance']:.3f}")
    print(f"latent vectors: {summary['matches'][0]['latent']} (wavegan vary --latent ... --index N; "
          f"wavegan generate --latent ...)")


def cmd_vary(args):
    from models.steer import vary_wavs
    written = vary_wavs(args.model, args.latent, args.out, amount=args.amount, n=args.n, seed=args.seed,
                        label=args.label, index=args.index)
    print(f"wrote {len(written)} variations to {args.out} (their vectors: {written[0]['latent']})")


def add_parsers(sub):
    p = sub.add_parser("search", help="find generated sounds like a target clip (search by example)")
    p.add_argument("--model", required=True, help="exported SavedModel directory")
    p.add_argument("--like", required=True, help="target audio file (cropped to the model's clip length)")
    p.add_argument("--label", default=None, help="class name or index to search in (conditional models)")
    p.add_argument("--n", type=int, default=8, help="matches to keep (the best n of 2n starts)")
    p.add_argument("--seed", type=int, default=0, help="seed of the random starts")
    p.add_argument("--out", required=True, help="output folder: match WAVs, match_latents.npz, matches.json")
    p.set_defaults(func=cmd_search)
    p = sub.add_parser("vary", help="variations around a saved latent vector")
    p.add_argument("--model", required=True, help="exported SavedModel directory")
    p.add_argument("--latent", required=True, help="latent file (.npz) written by search, vary or generate")
    p.add_argument("--index", type=int, default=0, help="which vector of the file")
    p.add_argument("--amount", type=float, default=0.2, help="how far from it: z + amount * N(0, 1)")
    p.add_argument("--n", type=int, default=8, help="number of variations")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--label", default=None, help="class name or index (default: the vector's own)")
    p.add_argument("--out", required=True, help="output folder")
    p.set_defaults(func=cmd_vary)
