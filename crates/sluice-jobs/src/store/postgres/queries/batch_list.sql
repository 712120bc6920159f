SELECT * FROM sluice_batches ORDER BY id DESC LIMIT $1
