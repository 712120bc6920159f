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
return add_members({id}, now, id, 7)
