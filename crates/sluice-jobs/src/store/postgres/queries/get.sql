SELECT * FROM sluice_jobs WHERE id = $1
