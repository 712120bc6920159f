-- Every worker kept, as it last reported itself, with the time of that report.
SELECT info, beat_at FROM sluice_workers ORDER BY name
