-- ARGV: prefix, now (ms), cutoff (ms), worker name, its report (JSON), then per minute: its
-- start (ms), queue, counts (JSON). Records the report and the minutes (replacing the worker's
-- earlier counts of them); forgets workers that last reported, and minutes that began, before
-- the cutoff.
local now, cutoff, name = tonumber(ARGV[2]), ARGV[3], ARGV[4]
redis.call('HSET', key('workers'), name, ARGV[5])
redis.call('ZADD', key('worker_beats'), now, name)
for i = 6, #ARGV, 3 do
  local field = ARGV[i] .. '|' .. ARGV[i + 1] .. '|' .. name
  redis.call('HSET', key('minutes'), field, ARGV[i + 2])
  redis.call('ZADD', key('minute_fields'), tonumber(ARGV[i]), field)
end
local gone = redis.call('ZRANGEBYSCORE', key('worker_beats'), '-inf', '(' .. cutoff)
if #gone > 0 then
  redis.call('HDEL', key('workers'), unpack(gone))
  redis.call('ZREM', key('worker_beats'), unpack(gone))
end
local old = redis.call('ZRANGEBYSCORE', key('minute_fields'), '-inf', '(' .. cutoff, 'LIMIT', 0, 5000)
if #old > 0 then
  redis.call('HDEL', key('minutes'), unpack(old))
  redis.call('ZREM', key('minute_fields'), unpack(old))
end
return 0
