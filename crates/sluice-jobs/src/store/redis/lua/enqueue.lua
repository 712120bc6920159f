-- ARGV: prefix, now, then per job: queue, kind, args, priority, max_attempts, run_at,
-- unique key or '', partition key or '', traceparent or '', how long the unique key is held:
-- '' (until the job ends), unique_for in ms (and that long after it succeeded), or 'start'
-- (until it starts).
-- Returns {inserted (1) or duplicate (0), id} per job.
local now = tonumber(ARGV[2])
local out = {}
local queues = {}
for i = 3, #ARGV, 10 do
  table.insert(out, insert(now, ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], ARGV[i + 4],
    ARGV[i + 5], ARGV[i + 6], ARGV[i + 7], ARGV[i + 8], ARGV[i + 9]))
  queues[ARGV[i]] = true
end
announce(queues)
return out
