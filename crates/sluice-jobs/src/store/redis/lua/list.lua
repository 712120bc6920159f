-- ARGV: prefix, queue, state, kind, unique key, partition key, args path (a JSON array of
-- keys), args value (JSON), id to list below, id to list above, limit, workflow; '' for any.
-- Returns jobs, newest first, as arrays of their FIELDS. Reads at most 100,000 ids per state
-- and queue; a workflow's steps (whose ids follow its own, taken together) are read by id.
local only, state, kind, uk, pk = ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6]
local path, value, before, after = ARGV[7], ARGV[8], ARGV[9], ARGV[10]
local limit, workflow = tonumber(ARGV[11]), ARGV[12]
local states = {'blocked', 'scheduled', 'available', 'running', 'retryable', 'succeeded', 'dead', 'cancelled'}
if state ~= '' then
  states = {state}
end
if path ~= '' then
  path = cjson.decode(path)
  value = cjson.decode(value)
end
if before ~= '' then
  before = pad(tonumber(before))
end
if after ~= '' then
  after = pad(tonumber(after))
end
local members = {}
local function consider(m)
  if (before == '' or m < before) and (after == '' or m > after) then
    table.insert(members, m)
  end
end
if workflow ~= '' then
  -- Its steps' ids follow it, taken together: read up to the first job of another (a missing
  -- id is a step pruned or discarded).
  local first = tonumber(workflow)
  local last = math.min(first + 99999, tonumber(redis.call('GET', key('seq')) or '0'))
  for id = first, last do
    local f = redis.call('HMGET', jkey(id), 'workflow_id', 'queue', 'state')
    if f[2] then
      if f[1] ~= workflow then
        break
      end
      if (only == '' or only == f[2]) and (state == '' or state == f[3]) then
        consider(pad(id))
      end
    end
  end
else
  for _, queue in ipairs(redis.call('SMEMBERS', key('queues'))) do
    if only == '' or only == queue then
      for _, st in ipairs(states) do
        for _, m in ipairs(redis.call('ZRANGE', key('q', queue, st), 0, 99999)) do
          consider(m)
        end
      end
    end
  end
end
table.sort(members, function(a, b) return a > b end)

-- Whether the args (JSON) hold `value` at `path`.
local function holds(args)
  local ok, at = pcall(cjson.decode, args)
  if not ok then
    return false
  end
  for _, k in ipairs(path) do
    if type(at) ~= 'table' then
      return false
    end
    local child = at[k]
    if child == nil and tonumber(k) then
      child = at[tonumber(k) + 1]
    end
    at = child
  end
  return at == value
end

local out = {}
for _, m in ipairs(members) do
  if #out >= limit then
    break
  end
  local jk = jkey(tonumber(m))
  local f = redis.call('HMGET', jk, 'kind', 'unique_key', 'partition_key', 'args')
  if (kind == '' or f[1] == kind) and (uk == '' or f[2] == uk) and (pk == '' or f[3] == pk)
      and (path == '' or holds(f[4])) then
    table.insert(out, read(jk))
  end
end
return out
