"""``patron import orders|customers FILE.csv``: history brought in through the public API.

Orders go through ``POST /v1/orders/batch`` and customers through ``POST /v1/customers/identify``,
the same ingest path (and rules) as live traffic. Modules: ``formats`` (CSV columns → API bodies),
``source`` (rows with byte offsets), ``batches`` (grouping, batching, answers → CSV lines),
``checkpoint`` (resume state), ``client`` (HTTP with retries), ``runner`` (the pipeline), ``command``
(the command line). ``docs/import.md`` documents formats, options and exit codes.
"""
