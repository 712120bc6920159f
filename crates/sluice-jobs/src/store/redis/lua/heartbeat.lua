-- ARGV: prefix, worker, lease until, ids... Returns {id, cancel requested (0/1)} per held job.
local worker, lease_until = ARGV[2], ARGV[3]
local out = {}
for i = 4, #ARGV do
  local id = tonumber(ARGV[i])
  local jk = jkey(id)
  local cur = redis.call('HMGET', jk, 'state', 'worker', 'queue', 'cancel_requested')
  if cur[1] == 'running' and cur[2] == worker then
    redis.call('HSET', jk, 'lease_until', lease_until)
    redis.call('ZADD', key('q', cur[3], 'running'), lease_until, pad(id))
    table.insert(out, {id, tonumber(cur[4])})
  end
end
return out
