SELECT * FROM sluice_jobs WHERE id = ?
