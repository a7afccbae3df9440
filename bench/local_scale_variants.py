#!/usr/bin/env python3
"""``--local-scale`` with its neighbour group (local_scale.NEIGHBOUR_GROUPS) at 3, 5 and 7: the
held-out table of bench/cut_fit.py for each, on the dev sets.

    .venv/bin/python bench/local_scale_variants.py [--datasets ../shared/datasets] [--groups 3 5 7]

Prints the tables (about 2.5 minutes each once bench/quality.py has cached the encodings);
docs/quality.md's "How the cut is chosen" quotes them. Writes nothing.
"""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from cut_fit import held_out_table  # noqa: E402
from harness import bench_parser  # noqa: E402
from quality import DEV_SETS, SUBSET_SETS, VARIANTS, encoded  # noqa: E402

from faceclust.clustering import local_scale  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = bench_parser(__doc__, publishes=False)
    parser.add_argument("--datasets", type=Path, default=REPO.parent / "shared" / "datasets")
    parser.add_argument("--groups", type=int, nargs="+", default=[3, 5, 7])
    args = parser.parse_args(argv)
    faces = {name: encoded(args.datasets / name, VARIANTS["flip"]) for name in DEV_SETS}
    for groups in args.groups:
        local_scale.NEIGHBOUR_GROUPS = groups
        print(f"\nNEIGHBOUR_GROUPS = {groups}", flush=True)
        print(
            held_out_table(
                {name: faces[name] for name in SUBSET_SETS},
                faces["lfw_large"],
                args.datasets,
                local_scale=True,
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
