-- ARGV: prefix, ids... Deletes the jobs that have ended; returns how many.
local count = 0
for i = 2, #ARGV do
  local id = tonumber(ARGV[i])
  local jk = jkey(id)
  local cur = redis.call('HMGET', jk, 'state', 'queue')
  if cur[1] == 'succeeded' or cur[1] == 'dead' or cur[1] == 'cancelled' then
    redis.call('ZREM', key('q', cur[2], cur[1]), pad(id))
    redis.call('DEL', jk)
    count = count + 1
  end
end
return count
