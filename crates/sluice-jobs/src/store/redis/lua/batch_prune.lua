-- ARGV: prefix, done before, limit. Deletes up to `limit` batches done before then; returns how
-- many.
local done = key('batches_done')
local ids = redis.call('ZRANGEBYSCORE', done, '-inf', '(' .. ARGV[2], 'LIMIT', 0, tonumber(ARGV[3]))
for _, id in ipairs(ids) do
  redis.call('DEL', key('batch', id))
  redis.call('ZREM', done, id)
end
return #ids
