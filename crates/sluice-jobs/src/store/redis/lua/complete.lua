-- ARGV: prefix, now, now as text, then per completion: id, worker, new state, '1' to delete the
-- job (a final state its queue keeps none of) or '', run at or '', error or '', result (JSON
-- text, for a success) or ''. The workflow steps waiting on jobs that ended are settled, and their
-- batches counted. Returns
-- how many were applied.
local now, at = tonumber(ARGV[2]), ARGV[3]
local applied = 0
-- Set members to move, per key, written at the end in one command each.
local removed, added = {}, {}
local function later(t, k, a, b)
  local list = t[k]
  if not list then
    list = {}
    t[k] = list
  end
  list[#list + 1] = a
  if b then
    list[#list + 1] = b
  end
end
local kids, batches = {}, {}
for i = 4, #ARGV, 7 do
  local id, worker, state, discard, run_at, err, result = tonumber(ARGV[i]), ARGV[i + 1], ARGV[i + 2],
    ARGV[i + 3] == '1', ARGV[i + 4], ARGV[i + 5], ARGV[i + 6]
  local jk = jkey(id)
  local cur = redis.call('HMGET', jk, 'state', 'worker', 'queue', 'attempt', 'priority', 'partition_key', 'unique_key',
    'dependents', 'batch_id')
  if cur[1] == 'running' and cur[2] == worker then
    applied = applied + 1
    local queue, m, pk, uk = cur[3], pad(id), cur[6], cur[7]
    later(removed, key('q', queue, 'running'), m)
    if pk ~= '' and redis.call('HINCRBY', key('partitions'), pk, -1) <= 0 then
      redis.call('HDEL', key('partitions'), pk)
    end
    local final = state == 'succeeded' or state == 'dead' or state == 'cancelled'
    if final then
      ended(kids, cur[8], state)
      batch_ended(batches, cur[9], state)
    end
    if err ~= '' and not discard then
      add_error(jk, cur[4], at, err)
    end
    if state == 'succeeded' then
      hold_unique(jk, uk, id, now)
    end
    if discard then
      release_unique(uk, id)
      redis.call('DEL', jk)
    elseif final then
      redis.call('HSET', jk, 'state', state, 'finished_at', now, 'lease_until', '')
      if result ~= '' then
        redis.call('HSET', jk, 'result', result)
      end
      later(added, key('q', queue, state), now, m)
      release_unique(uk, id)
    elseif state == 'retryable' then
      redis.call('HSET', jk, 'state', 'retryable', 'run_at', run_at, 'lease_until', '')
      later(added, key('q', queue, 'retryable'), run_at, m)
    elseif state == 'scheduled' then
      redis.call('HSET', jk, 'state', 'scheduled', 'run_at', run_at, 'lease_until', '', 'attempt', tonumber(cur[4]) - 1)
      later(added, key('q', queue, 'scheduled'), run_at, m)
    elseif state == 'available' then
      redis.call('HSET', jk, 'state', 'available', 'run_at', now, 'lease_until', '', 'worker', '',
        'attempt', tonumber(cur[4]) - 1)
      later(added, key('q', queue, 'available'), avail_score(cur[5], now), m)
      wake(queue)
    end
  end
end
for k, members in pairs(removed) do
  redis.call('ZREM', k, unpack(members))
end
for k, pairs_ in pairs(added) do
  redis.call('ZADD', k, unpack(pairs_))
end
settle(kids, now, at)
batches_ended(batches, now)
return applied
