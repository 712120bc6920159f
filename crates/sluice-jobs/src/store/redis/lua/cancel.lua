-- ARGV: prefix, now, ids... Returns per id: 'cancelled', 'requested' or 'not_pending'.
local now = tonumber(ARGV[2])
local out = {}
for i = 3, #ARGV do
  local id = tonumber(ARGV[i])
  local jk = jkey(id)
  local cur = redis.call('HMGET', jk, 'state', 'queue')
  local state, queue, m = cur[1], cur[2], pad(id)
  if state == 'scheduled' or state == 'available' or state == 'retryable' then
    redis.call('ZREM', key('q', queue, state), m)
    finish(jk, id, queue, m, 'cancelled', now)
    table.insert(out, 'cancelled')
  elseif state == 'running' then
    redis.call('HSET', jk, 'cancel_requested', 1)
    table.insert(out, 'requested')
  else
    table.insert(out, 'not_pending')
  end
end
return out
