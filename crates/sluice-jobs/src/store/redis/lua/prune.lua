-- ARGV: prefix, ended before, queue or '', limit, states... Returns how many were deleted.
local before, only, limit = ARGV[2], ARGV[3], tonumber(ARGV[4])
local count = 0
for _, queue in ipairs(redis.call('SMEMBERS', key('queues'))) do
  if only == '' or only == queue then
    for i = 5, #ARGV do
      if count >= limit then
        return count
      end
      local set = key('q', queue, ARGV[i])
      for _, m in ipairs(redis.call('ZRANGEBYSCORE', set, '-inf', '(' .. before, 'LIMIT', 0, limit - count)) do
        redis.call('DEL', jkey(tonumber(m)))
        redis.call('ZREM', set, m)
        count = count + 1
      end
    end
  end
end
return count
