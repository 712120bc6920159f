-- ARGV: prefix, queue or '', state or '', kind or '', limit. Returns jobs, newest first, as
-- arrays of their FIELDS. Reads at most 100,000 ids per state and queue.
local only, state, kind, limit = ARGV[2], ARGV[3], ARGV[4], tonumber(ARGV[5])
local states = {'scheduled', 'available', 'running', 'retryable', 'succeeded', 'dead', 'cancelled'}
if state ~= '' then
  states = {state}
end
local members = {}
for _, queue in ipairs(redis.call('SMEMBERS', key('queues'))) do
  if only == '' or only == queue then
    for _, st in ipairs(states) do
      for _, m in ipairs(redis.call('ZRANGE', key('q', queue, st), 0, 99999)) do
        table.insert(members, m)
      end
    end
  end
end
table.sort(members, function(a, b) return a > b end)
local out = {}
for _, m in ipairs(members) do
  if #out >= limit then
    break
  end
  local jk = jkey(tonumber(m))
  if kind == '' or redis.call('HGET', jk, 'kind') == kind then
    table.insert(out, read(jk))
  end
end
return out
