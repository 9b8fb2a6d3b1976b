"""Domain events between services: transactional outbox, sequencer, gRPC event streams, consumers.

A producer appends events to its outbox in the transaction that changes its state (``outbox``). A
sequencer gives committed events dense positions per partition, one sequencing transaction at a
time (``sequencer``), so a reader can never pass an event that commits later: the commit-order trap
of sequence-assigned positions cannot happen. Streams serve positioned events (``stream``); a
consumer applies a batch's effects and its new positions in one transaction of its own database
(``consumer``), so an event's effect happens exactly once though delivery is at least once.
"""
