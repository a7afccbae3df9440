"""Grouping face embeddings by person. Labels follow scikit-learn: ``-1`` is noise (unknown).

- estimator.py: :class:`FaceClusterer`, the one entry point over every method;
- agglomerative.py and adaptive_cut.py: the default method and how it chooses its cut;
  centre_checks.py: its checks of groups against their centres;
  local_scale.py: the weights of its optional second pass (``local_scale=True``);
- graph.py: the methods on the nearest-neighbour graph, for a million faces;
- blurred.py: groups that only blurred faces would make, left unknown;
- constraints.py: the cannot-link rule and a user's must-link and apart groups; labels.py:
  numbering and means of clusters; neighbors.py: each face's nearest faces;
- corrections.py: a user's corrections.json replayed onto this run's faces; names.py: names
  from a CSV, or carried over from a previous run's groups.
"""

from .adaptive_cut import REFERENCE_CUT, adaptive_cut
from .agglomerative import EXACT_AGGLOMERATIVE_FACES, Linkage, average_linkage
from .constraints import LinkConstraints, apply_links, split_same_photo_faces
from .estimator import (
    DEFAULT_METHOD,
    DEFAULT_MIN_CLUSTER_SIZE,
    DEFAULT_MIN_SAMPLES,
    DEFAULT_THRESHOLDS,
    METHODS,
    FaceClusterer,
    tuning_grid,
)
from .graph import GRAPH_NEIGHBORS, chinese_whispers, merge_by_average_linkage
from .labels import NOISE, centroids, cluster_means, relabel_by_size

__all__ = [
    "DEFAULT_METHOD",
    "DEFAULT_MIN_CLUSTER_SIZE",
    "DEFAULT_MIN_SAMPLES",
    "DEFAULT_THRESHOLDS",
    "EXACT_AGGLOMERATIVE_FACES",
    "GRAPH_NEIGHBORS",
    "METHODS",
    "NOISE",
    "REFERENCE_CUT",
    "FaceClusterer",
    "LinkConstraints",
    "Linkage",
    "adaptive_cut",
    "apply_links",
    "average_linkage",
    "centroids",
    "chinese_whispers",
    "cluster_means",
    "merge_by_average_linkage",
    "relabel_by_size",
    "split_same_photo_faces",
    "tuning_grid",
]
