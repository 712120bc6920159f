-- Enqueues batch $1's callbacks at $2 if it is done and has not fired ($3 prefixes the
-- notifications of the queues it wakes).
SELECT sluice_batch_fire($1, $2, $3)
