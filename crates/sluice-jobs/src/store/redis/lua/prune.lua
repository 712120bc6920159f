-- ARGV: prefix, ended before, queue or '', limit, kind or '', kinds kept apart (a JSON array),
-- states... Returns how many were deleted. With a kind, or kinds kept apart, each candidate's
-- kind is read, and up to 10 times the limit are looked at past those it keeps.
local before, only, limit = ARGV[2], ARGV[3], tonumber(ARGV[4])
local kind, apart = ARGV[5], {}
for _, k in ipairs(cjson.decode(ARGV[6])) do
  apart[k] = true
end
local filtered = kind ~= '' or next(apart) ~= nil
local function wanted(jk)
  if not filtered then
    return true
  end
  local k = redis.call('HGET', jk, 'kind')
  return (kind == '' or k == kind) and not apart[k]
end
local count = 0
for _, queue in ipairs(redis.call('SMEMBERS', key('queues'))) do
  if only == '' or only == queue then
    for i = 7, #ARGV do
      local set = key('q', queue, ARGV[i])
      local offset = 0
      while count < limit and offset < 10 * limit do
        local page = redis.call('ZRANGEBYSCORE', set, '-inf', '(' .. before, 'LIMIT', offset, limit - count)
        if #page == 0 then
          break
        end
        for _, m in ipairs(page) do
          local jk = jkey(tonumber(m))
          if wanted(jk) then
            redis.call('DEL', jk)
            redis.call('ZREM', set, m)
            count = count + 1
          else
            offset = offset + 1
          end
        end
      end
      if count >= limit then
        return count
      end
    end
  end
end
return count
