-- ARGV: prefix, now, batch id. Closes the batch if it is open, and fires it if every job has
-- ended already. Returns 1 if it was open, 0 if not (or unknown).
local now, id = tonumber(ARGV[2]), ARGV[3]
local bk = key('batch', id)
if redis.call('HGET', bk, 'open') ~= '1' then
  return 0
end
redis.call('HSET', bk, 'open', '0')
batch_fire(id, now)
return 1
