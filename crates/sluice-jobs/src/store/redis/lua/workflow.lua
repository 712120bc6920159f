-- ARGV: prefix, now, then per step: queue, kind, args, priority, max_attempts, run_at, unique
-- key (always ''), partition key or '', traceparent or '', unique_for (always ''), name, the positions (from 1) of the
-- steps it depends on and of those depending on it (JSON arrays), what it does when a
-- dependency fails. Takes one id per step, in order, and writes them all: a step without
-- dependencies ready to run, the others blocked. Returns the first id.
local now = tonumber(ARGV[2])
local n = (#ARGV - 2) / 14
local first = redis.call('INCRBY', key('seq'), n) - n + 1
local function ids(positions)
  local out = {}
  for _, p in ipairs(cjson.decode(positions)) do
    out[#out + 1] = first + p - 1
  end
  return out
end
local queues = {}
for s = 0, n - 1 do
  local i = 3 + s * 14
  local id = first + s
  local depends_on, dependents = ids(ARGV[i + 11]), ids(ARGV[i + 12])
  local state = 'blocked'
  if #depends_on == 0 then
    state = initial_state(ARGV[i + 5], now)
  end
  local jk = write(id, state, now, ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], ARGV[i + 4],
    ARGV[i + 5], ARGV[i + 6], ARGV[i + 7], ARGV[i + 8])
  local dependents_text = ''
  if #dependents > 0 then
    dependents_text = '[' .. table.concat(dependents, ',') .. ']'
  end
  redis.call('HSET', jk, 'workflow_id', first, 'step', ARGV[i + 10], 'depends_on',
    '[' .. table.concat(depends_on, ',') .. ']', 'dependents', dependents_text,
    'waiting_on', #depends_on, 'on_dependency_failure', ARGV[i + 13])
  queues[ARGV[i]] = true
end
announce(queues)
return first
