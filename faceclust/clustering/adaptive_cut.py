"""The default cut of average linkage, adapted to how many different faces a set holds.

One fixed cut cannot serve a folder of five people and one of five thousand: the more people a
set holds, the more strangers lie within any distance of a face, so a cut that keeps 80
people apart (0.6, dlib's documented same-person distance) joins strangers wholesale among
3,000 (pairwise precision 0.49 on lfw_large), and a cut that keeps those apart (0.5) splits
the people of a small set of varied photos (five_celebrities: BCubed F1 0.76).

So the cut follows the number of *distinct faces*: the groups that average linkage makes at
:data:`REFERENCE_CUT`, the strictest cut the rule ever chooses. That counts people (a face
seen in very different photos counts a few times), not photos, so a family
library of 20,000 photos of ten people keeps the loose cut while a set of the same size with
thousands of strangers gets the strict one. The cut falls with the logarithm of that count,
from :data:`CEILING` to :data:`FLOOR`; both numbers of the rule were fitted on the labelled
dev sets and checked on sets left out of the fit (bench/quality.py; docs/quality.md, "How good are the
groups?").
"""

from __future__ import annotations

import math

# dlib's documented same-person distance: the best cut of the small dev sets.
CEILING = 0.6
# The best cut of the largest sets measured (1,400-2,900 distinct faces); nothing measured
# supports going lower for larger sets.
FLOOR = 0.5
# Counting at the floor lets the graph (beyond 10,000 faces) count on its way to the cut: it
# merges up to the floor, counts, and merges on only if the count allows a looser cut.
REFERENCE_CUT = FLOOR
# The cut is INTERCEPT - SLOPE x log10(distinct faces): 0.6 up to 39 distinct faces, 0.55 at
# about 250, 0.5 from about 1,600. Fitted on the dev sets by bench/quality.py (bench/cut_fit.py);
# refitted when the face check changed which faces the dev sets give (it was 0.7125 - 0.075 x).
INTERCEPT = 0.7
SLOPE = 0.0625


def adaptive_cut(
    distinct_faces: int,
    intercept: float = INTERCEPT,
    slope: float = SLOPE,
    floor: float = FLOOR,
    ceiling: float = CEILING,
) -> float:
    """The average-linkage cut for a set with ``distinct_faces`` groups at :data:`REFERENCE_CUT`."""
    if distinct_faces < 1:
        raise ValueError(f"distinct_faces must be at least 1, not {distinct_faces}")
    return min(ceiling, max(floor, intercept - slope * math.log10(distinct_faces)))
