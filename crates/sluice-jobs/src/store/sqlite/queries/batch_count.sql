-- Counts ?2 more ended jobs of batch ?1, ?3 of them succeeded.
UPDATE sluice_batches SET ended = ended + ?2, succeeded = succeeded + ?3 WHERE id = ?1
