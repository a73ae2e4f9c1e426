"""Cross-account detection, pure (no Faust): linking attributes, account profiles, the
per-attribute index, clusters and their alerts, reseller mixing and model-release pivots.

Data flow: :class:`ProfileBuilder` (per input partition, fed by the detector) ->
:class:`AccountProfile` re-keyed by attribute value -> :class:`AttributeIndex`
(:class:`LinkVerdict`, :class:`PivotVerdict`) -> :class:`ClusterBook` -> alerts.
``docs/cross-account.md`` explains every signal and threshold.
"""

from stream_guard.core.linking.attributes import KINDS, event_values, ip_prefix, template_frames
from stream_guard.core.linking.clusters import Cluster, ClusterBook
from stream_guard.core.linking.index import AttributeIndex, LinkVerdict, PivotVerdict, verdict_from_wire
from stream_guard.core.linking.likeness import extraction_likeness
from stream_guard.core.linking.mixture import MixtureDetector
from stream_guard.core.linking.pipeline import Frontier, LinkingPipeline, linked_boundary
from stream_guard.core.linking.profile import AccountProfile, ProfileBuilder

__all__ = [
    "KINDS",
    "AccountProfile",
    "AttributeIndex",
    "Cluster",
    "ClusterBook",
    "Frontier",
    "LinkVerdict",
    "LinkingPipeline",
    "MixtureDetector",
    "PivotVerdict",
    "ProfileBuilder",
    "event_values",
    "extraction_likeness",
    "ip_prefix",
    "linked_boundary",
    "template_frames",
    "verdict_from_wire",
]
