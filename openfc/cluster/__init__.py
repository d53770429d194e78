"""Many nodes on one store: membership, leaderships, cluster-wide instance slots, change notices, drain."""

from openfc.cluster.node import Cluster, NodeState
from openfc.cluster.slots import Slots

__all__ = ["Cluster", "NodeState", "Slots"]
