"""Verified contributions: results from community nodes are checked before they earn credit.

`checks` compares or validates one work type's results; `trust` keeps each node's record per work type;
`engine` decides replicas, spot checks, canaries and verdicts; `ledger` is the signed, hash-chained
record of granted credit.
"""
