-- Shared by every script of the Redis store. ARGV[1] is the key prefix, a hash tag such as
-- `{sluice}`, so every key of one store lives in one cluster slot.
--
-- Keys:
--   P:seq                       job ids (INCR)
--   P:job:ID                    a job (hash; times in milliseconds, '' for none)
--   P:queues                    queue names (set)
--   P:q:QUEUE:STATE             the queue's jobs in STATE (sorted set of zero-padded ids):
--                               available by priority then due time, scheduled and retryable
--                               by due time, running by lease expiry, final states by end time,
--                               blocked workflow steps by id
--   P:q:QUEUE:wake              a token that wakes one waiting worker (list of at most one)
--   P:unique                    unique key -> id of its pending job (hash; a job whose key
--                               is held until it starts, unique_until = 'start', lets go of
--                               it when claimed)
--   P:unique_held               unique key -> ID:UNTIL, a succeeded job holding it until UNTIL
--                               (hash; entries past their time are dropped when next read)
--   P:partitions                partition key -> running jobs (hash)
--   P:rate:QUEUE                a queue's shared rate window: its start, jobs started (hash)
--   P:rate:QUEUE:BY:WINDOW      jobs started in a window of a rate per kind or key (BY is
--                               'kind' or 'partition_key'): kind or key -> count (hash that
--                               expires a window after its own)
--   P:schedules                 schedule name -> last tick fired (hash)
--   P:paused                    paused queue -> since when (hash)
--   P:workers                   worker name -> its last report (hash of JSON)
--   P:worker_beats              worker names by time of last report (sorted set)
--   P:minutes                   MINUTE|QUEUE|WORKER -> that minute's counts (hash of JSON)
--   P:minute_fields             the fields of P:minutes by minute (sorted set)
--   P:batch_seq                 batch ids (INCR)
--   P:batch:ID                  a batch (hash): description, total, ended, succeeded, open
--                               ('1' or '0'), on_success and on_complete (the callbacks' job
--                               arguments as a JSON array, or ''), callbacks (the ids enqueued,
--                               a JSON array), created_at, finished_at
--   P:batches_done              batch ids by when they were done (sorted set), for the pruner
local P = ARGV[1]

local function key(a, b, c)
  if c then
    return P .. ':' .. a .. ':' .. b .. ':' .. c
  elseif b then
    return P .. ':' .. a .. ':' .. b
  end
  return P .. ':' .. a
end

local format = string.format
local function pad(id)
  return format('%020d', id)
end

local JOB = P .. ':job:'
local function jkey(id)
  return JOB .. format('%d', id)
end

-- A job's fields as the store reads them, in FIELDS order (FIELDS comes from the Rust side);
-- AT maps a field's name to its position. FIELDS ends with a workflow step's, from
-- `workflow_id` on: read only for a step, so a plain job's claim reads no more than it did.
local AT = {}
for i, f in ipairs(FIELDS) do
  AT[f] = i
end
local function read(jk)
  local job = redis.call('HMGET', jk, unpack(FIELDS, 1, AT.workflow_id))
  if job[AT.workflow_id] then
    local step = redis.call('HMGET', jk, unpack(FIELDS, AT.workflow_id + 1))
    for i, v in ipairs(step) do
      job[AT.workflow_id + i] = v
    end
  end
  return job
end

-- Available jobs sort by priority (clamped to -1000..1000), then due time: exact in a double.
local EPOCH = 1577836800000
local function avail_score(priority, run_at)
  local p = math.max(-1000, math.min(1000, tonumber(priority)))
  return (1000 - p) * 4398046511104 + math.max(0, tonumber(run_at) - EPOCH)
end

local function wake(queue)
  local w = key('q', queue, 'wake')
  redis.call('RPUSH', w, 1)
  redis.call('LTRIM', w, -1, -1)
end

-- Registers the queues of set `queues` (a queue's name -> true) and wakes their workers.
local function announce(queues)
  for queue in pairs(queues) do
    redis.call('SADD', key('queues'), queue)
    wake(queue)
  end
end

local function make_available(jk, queue, m, priority, run_at)
  redis.call('HSET', jk, 'state', 'available')
  redis.call('ZADD', key('q', queue, 'available'), avail_score(priority, run_at), m)
end

local function add_error(jk, attempt, at, err)
  local errs = redis.call('HGET', jk, 'errors')
  local obj = cjson.encode({attempt = tonumber(attempt), at = at, error = err})
  if errs == '[]' then
    errs = '[' .. obj .. ']'
  else
    errs = string.sub(errs, 1, -2) .. ',' .. obj .. ']'
  end
  redis.call('HSET', jk, 'errors', errs)
end

local function leave_running(jk, queue, m)
  redis.call('ZREM', key('q', queue, 'running'), m)
  redis.call('HSET', jk, 'lease_until', '')
  local pk = redis.call('HGET', jk, 'partition_key')
  if pk ~= '' then
    if redis.call('HINCRBY', key('partitions'), pk, -1) <= 0 then
      redis.call('HDEL', key('partitions'), pk)
    end
  end
end

-- Frees the unique key `uk` if job `id` holds it.
local function release_unique(uk, id)
  if uk ~= '' and redis.call('HGET', key('unique'), uk) == tostring(id) then
    redis.call('HDEL', key('unique'), uk)
  end
end

local function finish(jk, id, queue, m, state, now)
  redis.call('HSET', jk, 'state', state, 'finished_at', now)
  redis.call('ZADD', key('q', queue, state), now, m)
  release_unique(redis.call('HGET', jk, 'unique_key'), id)
end

-- Writes job `id` in `state` (available, scheduled or blocked) and adds it to its state's set.
local function write(id, state, now, queue, kind, args, priority, max_attempts, run_at, uk, pk, tp)
  local jk = jkey(id)
  redis.call('HSET', jk, 'id', id, 'queue', queue, 'kind', kind, 'args', args, 'priority', priority,
    'state', state, 'attempt', 0, 'max_attempts', max_attempts, 'run_at', run_at, 'lease_until', '',
    'worker', '', 'errors', '[]', 'unique_key', uk, 'partition_key', pk, 'cancel_requested', 0,
    'created_at', now, 'finished_at', '', 'traceparent', tp)
  if state == 'available' then
    redis.call('ZADD', key('q', queue, 'available'), avail_score(priority, run_at), pad(id))
  elseif state == 'scheduled' then
    redis.call('ZADD', key('q', queue, 'scheduled'), run_at, pad(id))
  else
    redis.call('ZADD', key('q', queue, state), id, pad(id))
  end
  return jk
end

-- The state a job due at `run_at` starts in at `now`.
local function initial_state(run_at, now)
  if tonumber(run_at) > now then
    return 'scheduled'
  end
  return 'available'
end

-- Inserts one job, holding its unique key `uk` for `uf` milliseconds after it succeeds ('' for
-- none; 'start' holds it only until the job starts); the caller wakes the queue and records it
-- in P:queues.
local function insert(now, queue, kind, args, priority, max_attempts, run_at, uk, pk, tp, uf)
  if uk ~= '' then
    local existing = redis.call('HGET', key('unique'), uk)
    if existing then
      return {0, tonumber(existing)}
    end
    local held = redis.call('HGET', key('unique_held'), uk)
    if held then
      local id, til = string.match(held, '^(%d+):(%d+)$')
      if id and tonumber(til) > now then
        return {0, tonumber(id)}
      end
      redis.call('HDEL', key('unique_held'), uk)
    end
  end
  local id = redis.call('INCR', key('seq'))
  local jk = write(id, initial_state(run_at, now), now, queue, kind, args, priority, max_attempts, run_at, uk, pk, tp)
  if uk ~= '' then
    redis.call('HSET', key('unique'), uk, id)
    if uf == 'start' then
      redis.call('HSET', jk, 'unique_until', 'start')
    elseif uf and uf ~= '' then
      redis.call('HSET', jk, 'unique_for', uf)
    end
  end
  return {1, id}
end

-- Keeps unique key `uk` held by job `id` (hash `jk`), which just succeeded, for its
-- `unique_for`, if it has one.
local function hold_unique(jk, uk, id, now)
  if uk == '' then
    return
  end
  local uf = redis.call('HGET', jk, 'unique_for')
  if uf and uf ~= '' then
    redis.call('HSET', key('unique_held'), uk, id .. ':' .. (now + tonumber(uf)))
  end
end

-- Settles the workflow steps waiting on jobs that just ended: `kids` lists {step id, whether the
-- ended dependency failed}, a step once per ended dependency. Each blocked step counts its ended
-- dependencies off `waiting_on`; the end that brings it to zero makes it available (or
-- scheduled, if it was given a later time). A failed dependency cancels a step that does not
-- run on dependency failure, and that cancellation settles the steps waiting on it in turn.
local function settle(kids, now, at)
  local i = 1
  while i <= #kids do
    local id, failed = kids[i][1], kids[i][2]
    i = i + 1
    local jk = jkey(id)
    local cur = redis.call('HMGET', jk, 'state', 'queue', 'waiting_on', 'on_dependency_failure',
      'run_at', 'priority', 'dependents', 'attempt')
    if cur[1] == 'blocked' then
      local queue, m = cur[2], pad(id)
      local left = tonumber(cur[3]) - 1
      if failed and cur[4] == 'cancel' then
        redis.call('ZREM', key('q', queue, 'blocked'), m)
        add_error(jk, cur[8], at, 'a job it depends on ended dead or cancelled')
        finish(jk, id, queue, m, 'cancelled', now)
        if cur[7] and cur[7] ~= '' then
          for _, d in ipairs(cjson.decode(cur[7])) do
            kids[#kids + 1] = {d, true}
          end
        end
      elseif left > 0 then
        redis.call('HSET', jk, 'waiting_on', left)
      else
        redis.call('ZREM', key('q', queue, 'blocked'), m)
        local run_at = math.max(tonumber(cur[5]), now)
        redis.call('HSET', jk, 'waiting_on', 0, 'run_at', run_at)
        if run_at > now then
          redis.call('HSET', jk, 'state', 'scheduled')
          redis.call('ZADD', key('q', queue, 'scheduled'), run_at, m)
        else
          make_available(jk, queue, m, cur[6], run_at)
          wake(queue)
        end
      end
    end
  end
end

-- Inserts the jobs of ARGV from position `from` on (10 arguments each, as enqueue.lua takes
-- them; a member has no unique key) as members of batch `id`, and wakes their queues. Returns
-- `out` with their ids added.
local function add_members(out, now, id, from)
  local queues = {}
  for i = from, #ARGV, 10 do
    local added = insert(now, ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], ARGV[i + 4], ARGV[i + 5],
      '', ARGV[i + 7], ARGV[i + 8], '')
    redis.call('HSET', jkey(added[2]), 'batch_id', id)
    out[#out + 1] = added[2]
    queues[ARGV[i]] = true
  end
  announce(queues)
  return out
end

-- Enqueues batch `id`'s callbacks if it is closed, every job has ended and it has not fired:
-- `on_complete`, and `on_success` if every job succeeded, each with the batch's id in its args
-- as `batch`. Returns whether it fired.
local function batch_fire(id, now)
  local bk = key('batch', id)
  local b = redis.call('HMGET', bk, 'open', 'ended', 'total', 'finished_at', 'succeeded', 'on_complete',
    'on_success')
  if b[1] ~= '0' or tonumber(b[2]) < tonumber(b[3]) or b[4] ~= '' then
    return false
  end
  redis.call('HSET', bk, 'finished_at', now)
  redis.call('ZADD', key('batches_done'), now, id)
  local ids = {}
  for i, spec in ipairs({b[6], b[7]}) do
    if spec and spec ~= '' and (i == 1 or tonumber(b[5]) >= tonumber(b[3])) then
      local c = cjson.decode(spec)
      local args = '{"batch":' .. id .. '}'
      if c[3] ~= 'null' and c[3] ~= '{}' then
        args = '{"batch":' .. id .. ',' .. string.sub(c[3], 2)
      end
      local added = insert(now, c[1], c[2], args, c[4], c[5], now, '', c[6], c[7], '')
      ids[#ids + 1] = added[2]
      announce({[c[1]] = true})
    end
  end
  redis.call('HSET', bk, 'callbacks', '[' .. table.concat(ids, ',') .. ']')
  return true
end

-- Counts the jobs of batches that ended (`batches` maps a batch's id to {ended, succeeded}) and
-- fires those done.
local function batches_ended(batches, now)
  for id, n in pairs(batches) do
    local bk = key('batch', id)
    redis.call('HINCRBY', bk, 'ended', n[1])
    redis.call('HINCRBY', bk, 'succeeded', n[2])
    batch_fire(id, now)
  end
end

-- Notes in `batches` that a job of batch `id` (its field, '' or false for none) ended in `state`.
local function batch_ended(batches, id, state)
  if id and id ~= '' then
    local n = batches[id] or {0, 0}
    n[1] = n[1] + 1
    if state == 'succeeded' then
      n[2] = n[2] + 1
    end
    batches[id] = n
  end
end

-- Notes in `kids` the steps waiting on a job that ended in `state`: `dependents`, its field.
local function ended(kids, dependents, state)
  if dependents and dependents ~= '' then
    for _, d in ipairs(cjson.decode(dependents)) do
      kids[#kids + 1] = {d, state ~= 'succeeded'}
    end
  end
end

local function promote(queue, now)
  for _, st in ipairs({'scheduled', 'retryable'}) do
    local set = key('q', queue, st)
    local due = redis.call('ZRANGEBYSCORE', set, '-inf', now, 'LIMIT', 0, 1000)
    for _, m in ipairs(due) do
      local jk = jkey(tonumber(m))
      local fields = redis.call('HMGET', jk, 'priority', 'run_at')
      redis.call('ZREM', set, m)
      make_available(jk, queue, m, fields[1], fields[2])
    end
  end
end
