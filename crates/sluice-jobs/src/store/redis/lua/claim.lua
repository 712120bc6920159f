-- ARGV: prefix, queue, now, limit, worker, lease until, partition limit (-1 for none), shared
-- rate limit (-1 for none), the start of its current window (ms), what it counts apart
-- ('queue', 'kind' or 'partition_key') and its window's length (ms). Returns {1 if the shared
-- rate cut the claim short else 0, the claimed jobs as arrays of their FIELDS}; no job while
-- the queue is paused.
local queue, now, limit = ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
local worker, lease_until, plimit = ARGV[5], ARGV[6], tonumber(ARGV[7])
local rlimit, window, rby, rper = tonumber(ARGV[8]), ARGV[9], ARGV[10], tonumber(ARGV[11])
local scoped = rlimit >= 0 and rby ~= 'queue'
if redis.call('HEXISTS', key('paused'), queue) == 1 then
  return {0, {}}
end
-- The queue's window: the jobs it started so far, by every worker. A claim whose time was read
-- before another's counts in the other's window, so that a window never returns.
local capped, rk, used = 0, key('rate', queue), 0
if rlimit >= 0 then
  local newest = redis.call('HGET', rk, 'window')
  if newest and tonumber(newest) > tonumber(window) then
    window = newest
  end
end
if rlimit >= 0 and not scoped then
  local r = redis.call('HMGET', rk, 'window', 'used')
  if r[1] == window then
    used = tonumber(r[2])
  end
  local left = math.max(rlimit - used, 0)
  if left < limit then
    capped, limit = 1, left
  end
  if limit == 0 then
    return {capped, {}}
  end
end
promote(queue, now)
local avail = key('q', queue, 'available')
local chosen = {}
-- The starts so far in this window of each kind or key, under a rate that counts them apart,
-- and the new counts of those this claim starts.
local sk = key('rate', queue, rby .. ':' .. window)
local counted = {}
if plimit < 0 and not scoped then
  chosen = redis.call('ZRANGE', avail, 0, limit - 1)
else
  -- Look past partitions at their limit, and kinds or keys whose window is used up, up to a
  -- bound, for other jobs: a page at a time, reading the counts its jobs need in one call each.
  local busy, started = {}, {}
  local function fetch(hash, names, into)
    if #names > 0 then
      local got = redis.call('HMGET', hash, unpack(names))
      for n, name in ipairs(names) do
        into[name] = tonumber(got[n] or '0')
      end
    end
  end
  local offset, size = 0, math.min(math.max(limit, 50), 500)
  while #chosen < limit and offset < 20000 do
    local page = redis.call('ZRANGE', avail, offset, offset + size - 1)
    if #page == 0 then
      break
    end
    local of, scopes, keys, seen = {}, {}, {}, {}
    for n, m in ipairs(page) do
      local f = redis.call('HMGET', jkey(tonumber(m)), 'partition_key', 'kind')
      local pk, scope = f[1], nil
      if scoped and rby == 'kind' then
        scope = f[2]
      elseif scoped and pk ~= '' then
        scope = pk
      end
      of[n] = {pk, scope}
      if scope and started[scope] == nil and not seen['s' .. scope] then
        seen['s' .. scope] = true
        scopes[#scopes + 1] = scope
      end
      if plimit >= 0 and pk ~= '' and busy[pk] == nil and not seen['p' .. pk] then
        seen['p' .. pk] = true
        keys[#keys + 1] = pk
      end
    end
    fetch(sk, scopes, started)
    fetch(key('partitions'), keys, busy)
    for n, m in ipairs(page) do
      local pk, scope = of[n][1], of[n][2]
      local ok = true
      if scope and started[scope] >= rlimit then
        ok, capped = false, 1
      end
      if ok and plimit >= 0 and pk ~= '' then
        ok = busy[pk] < plimit
      end
      if ok then
        table.insert(chosen, m)
        if scope then
          started[scope] = started[scope] + 1
          counted[scope] = started[scope]
        end
        if plimit >= 0 and pk ~= '' then
          busy[pk] = busy[pk] + 1
        end
      end
      if #chosen >= limit then
        break
      end
    end
    offset = offset + size
  end
end
if #chosen == 0 then
  return {capped, {}}
end
if rlimit >= 0 and not scoped then
  redis.call('HSET', rk, 'window', window, 'used', used + #chosen)
end
if next(counted) then
  local counts = {}
  for scope, n in pairs(counted) do
    counts[#counts + 1] = scope
    counts[#counts + 1] = n
  end
  redis.call('HSET', sk, unpack(counts))
  redis.call('PEXPIREAT', sk, tonumber(window) + 2 * rper)
  redis.call('HSET', rk, 'window', window)
end
redis.call('ZREM', avail, unpack(chosen))
local leases = {}
local jobs = {}
for _, m in ipairs(chosen) do
  table.insert(leases, lease_until)
  table.insert(leases, m)
  local jk = jkey(tonumber(m))
  local job = read(jk)
  local attempt = tonumber(job[AT.attempt]) + 1
  job[AT.attempt] = tostring(attempt)
  job[AT.state] = 'running'
  job[AT.worker] = worker
  job[AT.lease_until] = lease_until
  local pk = job[AT.partition_key]
  if pk ~= '' then
    redis.call('HINCRBY', key('partitions'), pk, 1)
  end
  local uk = job[AT.unique_key]
  if uk ~= '' and redis.call('HGET', jk, 'unique_until') == 'start' then
    release_unique(uk, tonumber(m))
    redis.call('HSET', jk, 'unique_key', '')
    job[AT.unique_key] = ''
  end
  redis.call('HSET', jk, 'state', 'running', 'worker', worker, 'lease_until', lease_until, 'attempt', attempt)
  table.insert(jobs, job)
end
redis.call('ZADD', key('q', queue, 'running'), unpack(leases))
-- Others may find work too: pass the wake on.
if #chosen == limit and redis.call('ZCARD', avail) > 0 then
  wake(queue)
end
return {capped, jobs}
