-- ARGV: prefix, now, batch id, then per job: queue, kind, args, priority, max_attempts, run_at,
-- unique key (always ''), partition key or '', traceparent or '', unique_for (always ''). Adds the jobs to the batch if
-- it is open. Returns {0} if it is not (nothing added), else 1 then the jobs' ids.
local now, id = tonumber(ARGV[2]), ARGV[3]
local bk = key('batch', id)
if redis.call('HGET', bk, 'open') ~= '1' then
  return {0}
end
redis.call('HINCRBY', bk, 'total', (#ARGV - 3) / 10)
local out = {1}
local queues = {}
for i = 4, #ARGV, 10 do
  local added = insert(now, ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], ARGV[i + 4], ARGV[i + 5],
    '', ARGV[i + 7], ARGV[i + 8], '')
  redis.call('HSET', jkey(added[2]), 'batch_id', id)
  out[#out + 1] = added[2]
  queues[ARGV[i]] = true
end
for queue in pairs(queues) do
  redis.call('SADD', key('queues'), queue)
  wake(queue)
end
return out
