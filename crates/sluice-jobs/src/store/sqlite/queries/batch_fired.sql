-- Records the callbacks batch ?1 enqueued (a JSON array of ids).
UPDATE sluice_batches SET callbacks = ?2 WHERE id = ?1
