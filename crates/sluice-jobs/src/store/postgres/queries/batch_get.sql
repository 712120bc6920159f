SELECT * FROM sluice_batches WHERE id = $1
