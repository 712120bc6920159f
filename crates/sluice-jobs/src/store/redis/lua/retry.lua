-- ARGV: prefix, now, queue or '' (with no ids: every dead job of it, or of all), ids...
-- Returns how many jobs were made available.
local now, only = tonumber(ARGV[2]), ARGV[3]
local ids = {}
if #ARGV > 3 then
  for i = 4, #ARGV do
    table.insert(ids, tonumber(ARGV[i]))
  end
else
  for _, queue in ipairs(redis.call('SMEMBERS', key('queues'))) do
    if only == '' or only == queue then
      for _, m in ipairs(redis.call('ZRANGE', key('q', queue, 'dead'), 0, -1)) do
        table.insert(ids, tonumber(m))
      end
    end
  end
end
local count = 0
for _, id in ipairs(ids) do
  local jk = jkey(id)
  local cur = redis.call('HMGET', jk, 'state', 'queue', 'unique_key', 'attempt', 'max_attempts', 'priority')
  local state, queue, uk = cur[1], cur[2], cur[3]
  local retriable = state == 'dead' or state == 'cancelled' or state == 'retryable' or state == 'scheduled'
  local holder = uk and uk ~= '' and redis.call('HGET', key('unique'), uk)
  if retriable and (not holder or holder == tostring(id)) then
    local m = pad(id)
    redis.call('ZREM', key('q', queue, state), m)
    redis.call('HSET', jk, 'run_at', now, 'finished_at', '', 'cancel_requested', 0,
      'max_attempts', math.max(tonumber(cur[5]), tonumber(cur[4]) + 1))
    make_available(jk, queue, m, cur[6], now)
    if uk ~= '' then
      redis.call('HSET', key('unique'), uk, id)
    end
    wake(queue)
    count = count + 1
  end
end
return count
