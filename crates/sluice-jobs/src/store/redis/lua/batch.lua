-- ARGV: prefix, now, description, '1' if open or '', on_success and on_complete (a callback's job
-- arguments as a JSON array: queue, kind, args, priority, max_attempts, partition key,
-- traceparent; or ''), then per job: queue, kind, args, priority, max_attempts, run_at, unique
-- key (always ''), partition key or '', traceparent or '', unique_for (always ''). Writes the batch and its jobs.
-- Returns the batch's id, then its jobs' ids.
local now = tonumber(ARGV[2])
local id = redis.call('INCR', key('batch_seq'))
local open = '0'
if ARGV[4] == '1' then
  open = '1'
end
redis.call('HSET', key('batch', id), 'description', ARGV[3], 'total', (#ARGV - 6) / 10, 'ended', 0,
  'succeeded', 0, 'open', open, 'on_success', ARGV[5], 'on_complete', ARGV[6], 'callbacks', '[]',
  'created_at', now, 'finished_at', '')
local out = {id}
local queues = {}
for i = 7, #ARGV, 10 do
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
