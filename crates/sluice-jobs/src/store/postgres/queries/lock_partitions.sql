-- Serializes the partition-limited claims of queue $1 until the transaction ends, so two
-- claimers never both see a partition below its limit.
SELECT pg_advisory_xact_lock(hashtextextended('sluice.partitions.' || $1, 0))
