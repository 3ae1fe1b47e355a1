"""How many misses nobody received while no listener ran: an estimate from Redis'
own ``keyspace_misses``, kept beside the listener's counts at each checkpoint.

It is an upper bound more than a count: ``keyspace_misses`` counts misses in every
database, of every key (the suite's own, other applications'), and lookups that
publish nothing (``OBJECT`` of an absent key, as the suite's probes use).
"""

from __future__ import annotations

from ..store.listen import ServerMisses


def lost_between(saved: ServerMisses | None, now: ServerMisses, received_since: int = 0) -> int:
    """The misses Redis counted after the checkpoint ``saved`` and before ``now`` that
    no listener received (``received_since``: those this process did receive after
    ``saved``, still to be counted). Nothing when there is no earlier checkpoint;
    every miss since its start when Redis restarted in between (its count restarts,
    and what was received came from the server that stopped)."""
    if saved is None:
        return 0
    if saved.run_id != now.run_id:
        return now.keyspace_misses
    return max(0, now.keyspace_misses - saved.keyspace_misses - received_since)
