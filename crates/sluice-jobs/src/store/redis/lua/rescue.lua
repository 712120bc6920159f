-- ARGV: prefix, now, now as text, error. Returns the ids of rescued jobs. The workflow steps
-- waiting on jobs that died are settled, and their batches counted.
local now, at, err = tonumber(ARGV[2]), ARGV[3], ARGV[4]
local out = {}
local kids, batches = {}, {}
for _, queue in ipairs(redis.call('SMEMBERS', key('queues'))) do
  local expired = redis.call('ZRANGEBYSCORE', key('q', queue, 'running'), '-inf', '(' .. now, 'LIMIT', 0, 1000)
  for _, m in ipairs(expired) do
    local id = tonumber(m)
    local jk = jkey(id)
    local cur = redis.call('HMGET', jk, 'attempt', 'max_attempts')
    leave_running(jk, queue, m)
    add_error(jk, cur[1], at, err)
    if tonumber(cur[1]) >= tonumber(cur[2]) then
      finish(jk, id, queue, m, 'dead', now)
      ended(kids, redis.call('HGET', jk, 'dependents'), 'dead')
      batch_ended(batches, redis.call('HGET', jk, 'batch_id'), 'dead')
    else
      redis.call('HSET', jk, 'state', 'retryable', 'run_at', now)
      redis.call('ZADD', key('q', queue, 'retryable'), now, m)
    end
    table.insert(out, id)
  end
end
settle(kids, now, at)
batches_ended(batches, now)
return out
