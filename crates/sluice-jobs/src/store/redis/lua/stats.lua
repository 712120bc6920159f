-- ARGV: prefix. Returns {queue, state, count} for every non-empty state of every queue.
local out = {}
local queues = redis.call('SMEMBERS', key('queues'))
table.sort(queues)
for _, queue in ipairs(queues) do
  for _, state in ipairs({'scheduled', 'available', 'running', 'retryable', 'succeeded', 'dead', 'cancelled'}) do
    local n = redis.call('ZCARD', key('q', queue, state))
    if n > 0 then
      table.insert(out, {queue, state, n})
    end
  end
end
return out
