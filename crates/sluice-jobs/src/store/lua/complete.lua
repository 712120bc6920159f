-- ARGV: prefix, now, now as text, then per completion: id, worker, new state, run at or '',
-- error or ''. Returns how many were applied.
local now, at = tonumber(ARGV[2]), ARGV[3]
local applied = 0
for i = 4, #ARGV, 5 do
  local id, worker, state, run_at, err = tonumber(ARGV[i]), ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], ARGV[i + 4]
  local jk = jkey(id)
  local cur = redis.call('HMGET', jk, 'state', 'worker', 'queue', 'attempt', 'priority')
  if cur[1] == 'running' and cur[2] == worker then
    applied = applied + 1
    local queue, m = cur[3], pad(id)
    leave_running(jk, queue, m)
    if err ~= '' then
      add_error(jk, cur[4], at, err)
    end
    if state == 'succeeded' or state == 'dead' or state == 'cancelled' then
      finish(jk, id, queue, m, state, now)
    elseif state == 'retryable' then
      redis.call('HSET', jk, 'state', 'retryable', 'run_at', run_at)
      redis.call('ZADD', key('q', queue, 'retryable'), run_at, m)
    elseif state == 'scheduled' then
      redis.call('HINCRBY', jk, 'attempt', -1)
      redis.call('HSET', jk, 'state', 'scheduled', 'run_at', run_at)
      redis.call('ZADD', key('q', queue, 'scheduled'), run_at, m)
    elseif state == 'available' then
      redis.call('HINCRBY', jk, 'attempt', -1)
      redis.call('HSET', jk, 'worker', '', 'run_at', now)
      make_available(jk, queue, m, cur[5], now)
      wake(queue)
    end
  end
end
return applied
