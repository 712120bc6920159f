-- ARGV: prefix, now, now as text, ids... Returns per id: 'cancelled', 'requested' or
-- 'not_pending'. The workflow steps waiting on jobs cancelled are settled, and their batches
-- counted.
local now, at = tonumber(ARGV[2]), ARGV[3]
local out = {}
local kids, batches = {}, {}
for i = 4, #ARGV do
  local id = tonumber(ARGV[i])
  local jk = jkey(id)
  local cur = redis.call('HMGET', jk, 'state', 'queue')
  local state, queue, m = cur[1], cur[2], pad(id)
  if state == 'blocked' or state == 'scheduled' or state == 'available' or state == 'retryable' then
    redis.call('ZREM', key('q', queue, state), m)
    finish(jk, id, queue, m, 'cancelled', now)
    ended(kids, redis.call('HGET', jk, 'dependents'), 'cancelled')
    batch_ended(batches, redis.call('HGET', jk, 'batch_id'), 'cancelled')
    table.insert(out, 'cancelled')
  elseif state == 'running' then
    redis.call('HSET', jk, 'cancel_requested', 1)
    table.insert(out, 'requested')
  else
    table.insert(out, 'not_pending')
  end
end
settle(kids, now, at)
batches_ended(batches, now)
return out
