-- ARGV: prefix, since (ms). Returns {field, counts} of every minute from `since` on, where field
-- is MINUTE|QUEUE|WORKER and counts are JSON.
local fields = redis.call('ZRANGEBYSCORE', key('minute_fields'), ARGV[2], '+inf')
local out = {}
for i = 1, #fields, 1000 do
  local chunk = {unpack(fields, i, math.min(i + 999, #fields))}
  local values = redis.call('HMGET', key('minutes'), unpack(chunk))
  for j, f in ipairs(chunk) do
    if values[j] then
      table.insert(out, {f, values[j]})
    end
  end
end
return out
