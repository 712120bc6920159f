-- ARGV: prefix. Returns {queue, state, count, oldest} for every non-empty state of every queue:
-- oldest is the earliest due time (ms) of an available job, -1 for other states.
local BAND = 4398046511104
-- The earliest due time of the available set: the least score's remainder in each priority band.
local function oldest_available(avail)
  local oldest = nil
  local first = redis.call('ZRANGE', avail, 0, 0, 'WITHSCORES')
  while first[2] do
    local score = tonumber(first[2])
    local band = math.floor(score / BAND)
    local due = score - band * BAND + EPOCH
    if oldest == nil or due < oldest then
      oldest = due
    end
    first = redis.call('ZRANGEBYSCORE', avail, (band + 1) * BAND, '+inf', 'WITHSCORES', 'LIMIT', 0, 1)
  end
  return oldest or -1
end

local out = {}
local queues = redis.call('SMEMBERS', key('queues'))
table.sort(queues)
for _, queue in ipairs(queues) do
  for _, state in ipairs({'blocked', 'scheduled', 'available', 'running', 'retryable', 'succeeded', 'dead', 'cancelled'}) do
    local set = key('q', queue, state)
    local n = redis.call('ZCARD', set)
    if n > 0 then
      local oldest = -1
      if state == 'available' then
        oldest = oldest_available(set)
      end
      table.insert(out, {queue, state, n, oldest})
    end
  end
end
return out
