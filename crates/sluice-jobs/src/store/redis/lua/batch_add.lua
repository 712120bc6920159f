-- ARGV: prefix, now, batch id, then per job: queue, kind, args, priority, max_attempts, run_at,
-- unique key (always ''), partition key or '', traceparent or '', unique_for (always ''). Adds the jobs to the batch if
-- it is open. Returns {0} if it is not (nothing added), else 1 then the jobs' ids.
local now, id = tonumber(ARGV[2]), ARGV[3]
local bk = key('batch', id)
if redis.call('HGET', bk, 'open') ~= '1' then
  return {0}
end
redis.call('HINCRBY', bk, 'total', (#ARGV - 3) / 10)
return add_members({1}, now, id, 4)
