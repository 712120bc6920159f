-- ARGV: prefix, now, schedule name, tick, then one job as in enqueue. Returns {} when the tick
-- (or a later one) fired already, else {inserted (1) or duplicate (0), id}.
local now, name, tick = tonumber(ARGV[2]), ARGV[3], tonumber(ARGV[4])
local last = redis.call('HGET', key('schedules'), name)
if last and tonumber(last) >= tick then
  return {}
end
redis.call('HSET', key('schedules'), name, ARGV[4])
local result = insert(now, ARGV[5], ARGV[6], ARGV[7], ARGV[8], ARGV[9], ARGV[10], ARGV[11], ARGV[12],
  ARGV[13], ARGV[14])
announce({[ARGV[5]] = true})
return result
