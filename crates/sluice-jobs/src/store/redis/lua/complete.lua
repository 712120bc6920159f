-- ARGV: prefix, now, now as text, then per completion: id, worker, new state (or 'discard' to
-- delete the job), run at or '', error or '', result (JSON text, for a success) or ''. Returns
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
for i = 4, #ARGV, 6 do
  local id, worker, state, run_at, err, result = tonumber(ARGV[i]), ARGV[i + 1], ARGV[i + 2], ARGV[i + 3],
    ARGV[i + 4], ARGV[i + 5]
  local jk = jkey(id)
  local cur = redis.call('HMGET', jk, 'state', 'worker', 'queue', 'attempt', 'priority', 'partition_key', 'unique_key')
  if cur[1] == 'running' and cur[2] == worker then
    applied = applied + 1
    local queue, m, pk, uk = cur[3], pad(id), cur[6], cur[7]
    later(removed, key('q', queue, 'running'), m)
    if pk ~= '' and redis.call('HINCRBY', key('partitions'), pk, -1) <= 0 then
      redis.call('HDEL', key('partitions'), pk)
    end
    if err ~= '' and state ~= 'discard' then
      add_error(jk, cur[4], at, err)
    end
    if state == 'discard' then
      release_unique(uk, id)
      redis.call('DEL', jk)
    elseif state == 'succeeded' or state == 'dead' or state == 'cancelled' then
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
return applied
