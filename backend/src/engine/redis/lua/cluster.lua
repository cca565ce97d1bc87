#!lua
-- The cluster's shared state: which relay holds each name (sessions), who is in each room,
-- and clearing a dead relay's part of it. Run by relays only (redis/cluster.rs).
--
-- The keys are made here from the prefix (ARGV[1]) rather than passed: reaping a relay
-- touches keys only known once its sets are read. The engine runs on one Redis, not Redis
-- Cluster, so this is allowed.
--
-- ARGV[1] prefix   ARGV[2] op   ARGV[3] this relay's node id; then, by op:
--   claim   ARGV[4] user key, [5] name, [6] new token, [7] token given or "",
--           [8] mode: "token" | "required" | "proven", [9] when the asking relay last forgot
--           the name (ms; 0: not lately), [10] "1" to attach to a live session, [11] most
--           connections a person may have, [12] the connection's holder id (unique: the
--           connection and the claim)
--           → {"ok", generation, by_token (0/1)} | {"taken"} | {"refused"} (the token is
--           needed and was not given) | {"protected", hash, password_at, outside (0/1)} (the
--           name is protected and neither password nor token came: its password, for the relay
--           to check the one its hello gave) | {"attached", generation, token, name, connections, room, room, ...} (one
--           more connection of the live session, on this relay) | {"full"} (attach: the
--           person has [11] connections already)
--   release ARGV[4] user key, [5] the connection's holder id → 1 if it was released (0: it
--           was not held, or released already: a release is safe to repeat)
--   enter   ARGV[4] room, [5] user key, [6] name, [7] generation, [8] most names to answer
--           → {"ok", count, name, name, ...} (how many members the room has, and the names
--           of all of them if there are at most [8]) | {"moved"}
--   exit    ARGV[4] room, [5] user key                             → 1 if it left
--   reap    ARGV[4] dead node id, [5] grace ms for its sessions' tokens → 1 if reaped here
--
-- A session (session:USER) is held by one or more relays: `node` is one of them (the one that
-- claimed it). Each connection of the person (several with `hello` ... `attach`) is a field
-- "c:NODE:HOLDER" (HOLDER: the connection's id on that relay and its claim), and each relay
-- holding some has "n:NODE", how many, kept in step with them (store.lua's fencing reads it).
-- Adding or removing a connection's own field is safe to repeat, so a claim or a release
-- whose reply was lost may be sent again, or released, without miscounting. A claim without
-- attach (a new session, or a takeover) starts a new generation held by the claiming
-- connection alone; an attach adds a connection to the generation there is; a release takes
-- one away, and the session ends with its last. user-rooms:USER lists the rooms the person
-- is in (for an attach elsewhere).
--
-- A room member is a field of members:ROOM (the user key) whose value is "NODES NAME": the
-- relays that hold the person's connections in the room, comma-separated, then the name. The
-- person is in the room (presence, counts) while the list is not empty. A relay only ever
-- removes itself.

local P, op, me = ARGV[1], ARGV[2], ARGV[3]
if P == nil or op == nil or me == nil or me == '' then
  return redis.error_reply('ERR courier cluster: prefix, op and node id needed')
end

local function live(node)
  return node and node ~= '' and redis.call('EXISTS', P .. 'node:' .. node) == 1
end

local function owner(value)
  return value and string.match(value, '^(%S*) ') or nil
end

-- A member's relays, as a list, and its name.
local function member_nodes(value)
  local list, name = {}, nil
  if value then
    local nodes
    nodes, name = string.match(value, '^(%S*) (.*)$')
    for n in string.gmatch(nodes or '', '[^,]+') do
      list[#list + 1] = n
    end
  end
  return list, name
end

-- The connections of session `s` per relay, from its "c:NODE:HOLDER" fields; a relay with an
-- "n:NODE" count and no such field (an older relay's) counts that.
local function counts(s)
  local conns, older = {}, {}
  local fields = redis.call('HGETALL', s)
  for i = 1, #fields, 2 do
    local f = fields[i]
    local prefix = string.sub(f, 1, 2)
    if prefix == 'c:' then
      local n = string.match(f, '^c:(.+):[^:]+$')
      if n then
        conns[n] = (conns[n] or 0) + 1
      end
    elseif prefix == 'n:' then
      older[string.sub(f, 3)] = tonumber(fields[i + 1]) or 0
    end
  end
  local any = next(conns) ~= nil or next(older) ~= nil
  for n, c in pairs(older) do
    if conns[n] == nil then
      conns[n] = c
    end
  end
  return conns, any
end

-- The relays holding connections of session `s`, with how many (live relays only), and how
-- many in all. A session from before "n:" fields counts its node once.
local function holders(s)
  local held, total = {}, 0
  local conns, any = counts(s)
  for n, c in pairs(conns) do
    if c > 0 and live(n) then
      held[n] = c
      total = total + c
    end
  end
  if not any then
    local node = redis.call('HGET', s, 'node')
    if node and node ~= '' and live(node) then
      held[node] = 1
      total = 1
    end
  end
  return held, total
end

-- Sets relay `node`'s "n:NODE" count of session `s` from its connections' fields; the count.
local function recount(s, node)
  local prefix, c = 'c:' .. node .. ':', 0
  for _, f in ipairs(redis.call('HKEYS', s)) do
    if string.sub(f, 1, #prefix) == prefix then
      c = c + 1
    end
  end
  if c > 0 then
    redis.call('HSET', s, 'n:' .. node, c)
  else
    redis.call('HDEL', s, 'n:' .. node)
  end
  return c
end

-- Drops every "n:" and "c:" field of session `s` (of relay `node` only, if given).
local function drop_holders(s, node)
  local fields = redis.call('HKEYS', s)
  for _, f in ipairs(fields) do
    local prefix = string.sub(f, 1, 2)
    if (prefix == 'n:' or prefix == 'c:') and (node == nil or f == 'n:' .. node
        or string.sub(f, 1, #node + 3) == 'c:' .. node .. ':') then
      redis.call('HDEL', s, f)
    end
  end
end

-- Says that `name` entered or left `room`, with the room's count after it (a relay tells
-- its members of a big room the count instead of each coming and going).
local function presence(room, name, online, from, count)
  local event = cjson.encode({type = 'presence', room = room, name = name, online = online,
    count = count})
  redis.call('PUBLISH', P .. 'room:' .. room, 'p ' .. from .. ' ' .. event)
end

-- Takes relay `node`'s connections of `key` out of `room`; when they were the person's last
-- there, the person leaves the room, which is told.
local function leave(room, key, node)
  local m = P .. 'members:' .. room
  local list, name = member_nodes(redis.call('HGET', m, key))
  local rest, found = {}, false
  for _, n in ipairs(list) do
    if n == node then
      found = true
    else
      rest[#rest + 1] = n
    end
  end
  if not found then
    return 0
  end
  if #rest > 0 then
    redis.call('HSET', m, key, table.concat(rest, ',') .. ' ' .. name)
    return 1
  end
  redis.call('HDEL', m, key)
  redis.call('SREM', P .. 'user-rooms:' .. key, room)
  local count = redis.call('HINCRBY', P .. 'rooms', room, -1)
  if count <= 0 then
    redis.call('HDEL', P .. 'rooms', room)
  end
  presence(room, name, false, node, math.max(count, 0))
  return 1
end

if op == 'claim' then
  local key, name, token, given, mode = ARGV[4], ARGV[5], ARGV[6], ARGV[7], ARGV[8]
  if not key or key == '' or not name or not token or token == '' or not given
      or (mode ~= 'token' and mode ~= 'required' and mode ~= 'proven') then
    return redis.error_reply('ERR courier cluster: bad claim')
  end
  local s = P .. 'session:' .. key
  local held = redis.call('HMGET', s, 'node', 'token', 'gen', 'name')
  local node, held_token = held[1], held[2]
  local by_token = given ~= '' and held_token ~= false and held_token == given
  if mode == 'required' and not by_token then
    return {'refused'}
  end
  local attach, most, holder = ARGV[10] == '1', tonumber(ARGV[11]) or 1, ARGV[12]
  if not holder or holder == '' or string.find(holder, ':', 1, true) then
    return redis.error_reply('ERR courier cluster: bad claim')
  end
  local field = 'c:' .. me .. ':' .. holder
  -- Protected since the relay asking last heard: its password (or the token) is needed,
  -- unless the protection is older than the relay's forgetting of the name (ARGV[9], ms),
  -- which is on its way to Redis.
  local user = redis.call('HMGET', P .. 'user:' .. key, 'password', 'password_at',
    'password_outside')
  local forgotten = tonumber(ARGV[9]) or 0
  if mode == 'token' and not by_token and user[1] and user[1] ~= ''
      and (tonumber(user[2]) or 0) > forgotten then
    return {'protected', user[1], tonumber(user[2]) or 0, user[3] == '1' and 1 or 0}
  end
  local held_by, total = holders(s)
  if attach and total > 0 then
    -- One more connection of the live session (the proof a protected name needs was checked
    -- above; an unprotected one needs none).
    -- Claimed already if the field is there (the same claim again): counted once.
    local again = redis.call('HEXISTS', s, field) == 1
    if not again and total >= most then
      return {'full'}
    end
    redis.call('HSET', s, field, 1)
    recount(s, me)
    redis.call('SADD', P .. 'node-sessions:' .. me, key)
    local answer = {'attached', tonumber(held[3]) or 0, held_token, held[4] or name,
      again and total or total + 1}
    for _, room in ipairs(redis.call('SMEMBERS', P .. 'user-rooms:' .. key)) do
      answer[#answer + 1] = room
    end
    return answer
  end
  local elsewhere = false
  for n, _ in pairs(held_by) do
    if n ~= me then
      elsewhere = true
    end
  end
  if elsewhere and not by_token and mode ~= 'proven' then
    return {'taken'}
  end
  local generation = redis.call('HINCRBY', s, 'gen', 1)
  drop_holders(s)
  redis.call('HSET', s, 'node', me, 'token', token, 'name', name, field, 1, 'n:' .. me, 1)
  redis.call('PERSIST', s)
  if node and node ~= '' and node ~= me then
    redis.call('SREM', P .. 'node-sessions:' .. node, key)
  end
  for n, _ in pairs(held_by) do
    if n ~= me then
      redis.call('SREM', P .. 'node-sessions:' .. n, key)
    end
  end
  redis.call('SADD', P .. 'node-sessions:' .. me, key)
  redis.call('HSET', P .. 'online', key, me .. ' ' .. name)
  -- Known from now on, on every relay (the committer then records when it was seen), and seen
  -- now: every relay keeps each user's last use, for --name-idle-days and --max-users. An
  -- unprotected user's claim says all there is to know (KEY\nNAME\nMS), so that no relay
  -- reads anything; a protected one's is read (KEY), for the password.
  redis.call('SADD', P .. 'users', key)
  redis.call('HSET', P .. 'user:' .. key, 'name', name)
  local password = redis.call('HGET', P .. 'user:' .. key, 'password')
  if password and password ~= '' then
    redis.call('PUBLISH', P .. 'user-changes', key)
  else
    local t = redis.call('TIME')
    local ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
    redis.call('PUBLISH', P .. 'user-changes', key .. '\n' .. name .. '\n' .. ms)
  end
  for n, _ in pairs(held_by) do
    if n ~= me then
      redis.call('PUBLISH', P .. 'node:' .. n, 'moved ' .. generation .. ' ' .. key)
    end
  end
  return {'ok', generation, by_token and 1 or 0}
end

if op == 'release' then
  local key, holder = ARGV[4], ARGV[5]
  if not key or not holder or holder == '' then
    return redis.error_reply('ERR courier cluster: bad release')
  end
  local s = P .. 'session:' .. key
  -- Only the connection's own field: released already (or never claimed, or the session
  -- moved on since, which dropped it), nothing changes.
  if redis.call('HDEL', s, 'c:' .. me .. ':' .. holder) == 0 then
    return 0
  end
  if recount(s, me) > 0 then
    return 1 -- more connections of it here
  end
  redis.call('SREM', P .. 'node-sessions:' .. me, key)
  local node = redis.call('HGET', s, 'node')
  local others = holders(s)
  others[me] = nil
  local other = next(others)
  if other then
    -- Held on another relay still.
    if node == me then
      redis.call('HSET', s, 'node', other)
      local name = redis.call('HGET', s, 'name') or key
      redis.call('HSET', P .. 'online', key, other .. ' ' .. name)
    end
    return 1
  end
  redis.call('DEL', s)
  if owner(redis.call('HGET', P .. 'online', key)) == me then
    redis.call('HDEL', P .. 'online', key)
  end
  return 1
end

if op == 'enter' then
  local room, key, name, generation, most = ARGV[4], ARGV[5], ARGV[6], ARGV[7], tonumber(ARGV[8])
  if not room or room == '' or not key or key == '' or not name or not generation
      or not most or most < 1 then
    return redis.error_reply('ERR courier cluster: bad enter')
  end
  local held = redis.call('HMGET', P .. 'session:' .. key, 'node', 'gen', 'n:' .. me)
  if held[2] ~= generation or (held[1] ~= me and not held[3]) then
    return {'moved'}
  end
  local m = P .. 'members:' .. room
  local list, was_name = member_nodes(redis.call('HGET', m, key))
  redis.call('SADD', P .. 'node-members:' .. me, key .. '\n' .. room)
  if #list == 0 then
    redis.call('HSET', m, key, me .. ' ' .. name)
    redis.call('SADD', P .. 'user-rooms:' .. key, room)
    presence(room, name, true, me, redis.call('HINCRBY', P .. 'rooms', room, 1))
  else
    -- The person is there already (from another relay, or a session taken over from one,
    -- which leaves it itself): this relay is one more of its places there.
    local here = false
    for _, n in ipairs(list) do
      here = here or n == me
    end
    if not here then
      list[#list + 1] = me
      redis.call('HSET', m, key, table.concat(list, ',') .. ' ' .. (was_name or name))
    end
  end
  local count = redis.call('HLEN', m)
  local answer = {'ok', count}
  if count <= most then
    for _, value in ipairs(redis.call('HVALS', m)) do
      answer[#answer + 1] = string.match(value, '^%S* (.*)$')
    end
  end
  return answer
end

if op == 'exit' then
  local room, key = ARGV[4], ARGV[5]
  if not room or not key then
    return redis.error_reply('ERR courier cluster: bad exit')
  end
  redis.call('SREM', P .. 'node-members:' .. me, key .. '\n' .. room)
  return leave(room, key, me)
end

if op == 'reap' then
  local dead, grace = ARGV[4], tonumber(ARGV[5])
  if not dead or dead == '' or not grace or grace < 0 then
    return redis.error_reply('ERR courier cluster: bad reap')
  end
  if redis.call('EXISTS', P .. 'node:' .. dead) == 1 then
    return 0 -- alive after all (it took a new lease since it was seen without one)
  end
  if redis.call('SREM', P .. 'nodes', dead) == 0 then
    return 0 -- another relay reaped it
  end
  local members = P .. 'node-members:' .. dead
  for _, entry in ipairs(redis.call('SMEMBERS', members)) do
    local key, room = string.match(entry, '^([^\n]*)\n(.*)$')
    if key then
      leave(room, key, dead)
    end
  end
  redis.call('DEL', members)
  local sessions = P .. 'node-sessions:' .. dead
  for _, key in ipairs(redis.call('SMEMBERS', sessions)) do
    local s = P .. 'session:' .. key
    drop_holders(s, dead)
    local other = next((holders(s)))
    if other then
      -- Held on another relay still: the session lives on there.
      if redis.call('HGET', s, 'node') == dead then
        redis.call('HSET', s, 'node', other)
        local name = redis.call('HGET', s, 'name') or key
        redis.call('HSET', P .. 'online', key, other .. ' ' .. name)
      end
    elseif redis.call('HGET', s, 'node') == dead then
      if grace > 0 then
        -- The name is free; the token still takes it without a password for a while.
        redis.call('HSET', s, 'node', '')
        redis.call('PEXPIRE', s, grace)
      else
        redis.call('DEL', s)
      end
    end
    if owner(redis.call('HGET', P .. 'online', key)) == dead then
      redis.call('HDEL', P .. 'online', key)
    end
  end
  redis.call('DEL', sessions)
  redis.call('DEL', P .. 'node:' .. dead)
  return 1
end

return redis.error_reply('ERR courier cluster: unknown op')
