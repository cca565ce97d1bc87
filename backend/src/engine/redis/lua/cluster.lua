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
--           the name (ms; 0: not lately)
--           → {"ok", generation, by_token (0/1)} | {"taken"} | {"refused"} (the token is
--           needed and was not given, or the name is protected and neither password nor token
--           came)
--   release ARGV[4] user key, [5] generation                       → 1 if released
--   enter   ARGV[4] room, [5] user key, [6] name, [7] generation, [8] most names to answer
--           → {"ok", count, name, name, ...} (how many members the room has, and the names
--           of all of them if there are at most [8]) | {"moved"}
--   exit    ARGV[4] room, [5] user key                             → 1 if it left
--   reap    ARGV[4] dead node id, [5] grace ms for its sessions' tokens → 1 if reaped here
--
-- A room member is a field of members:ROOM (the user key) whose value is "NODE NAME": the
-- relay that holds it, then the name. A relay only ever removes its own.

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

-- Says that `name` entered or left `room`, with the room's count after it (a relay tells
-- its members of a big room the count instead of each coming and going).
local function presence(room, name, online, from, count)
  local event = cjson.encode({type = 'presence', room = room, name = name, online = online,
    count = count})
  redis.call('PUBLISH', P .. 'room:' .. room, 'p ' .. from .. ' ' .. event)
end

-- Takes `key` out of `room` if `node` holds it there, and says so to the room.
local function leave(room, key, node)
  local m = P .. 'members:' .. room
  local value = redis.call('HGET', m, key)
  if owner(value) ~= node then
    return 0
  end
  redis.call('HDEL', m, key)
  local count = redis.call('HINCRBY', P .. 'rooms', room, -1)
  if count <= 0 then
    redis.call('HDEL', P .. 'rooms', room)
  end
  presence(room, string.sub(value, #node + 2), false, node, math.max(count, 0))
  return 1
end

if op == 'claim' then
  local key, name, token, given, mode = ARGV[4], ARGV[5], ARGV[6], ARGV[7], ARGV[8]
  if not key or key == '' or not name or not token or token == '' or not given
      or (mode ~= 'token' and mode ~= 'required' and mode ~= 'proven') then
    return redis.error_reply('ERR courier cluster: bad claim')
  end
  local s = P .. 'session:' .. key
  local held = redis.call('HMGET', s, 'node', 'token')
  local node, held_token = held[1], held[2]
  local by_token = given ~= '' and held_token ~= false and held_token == given
  if mode == 'required' and not by_token then
    return {'refused'}
  end
  -- Protected since the relay asking last heard: its password (or the token) is needed,
  -- unless the protection is older than the relay's forgetting of the name (ARGV[9], ms),
  -- which is on its way to Redis.
  local user = redis.call('HMGET', P .. 'user:' .. key, 'password', 'password_at')
  local forgotten = tonumber(ARGV[9]) or 0
  if mode == 'token' and not by_token and user[1] and user[1] ~= ''
      and (tonumber(user[2]) or 0) > forgotten then
    return {'refused'}
  end
  local elsewhere = node ~= me and live(node)
  if elsewhere and not by_token and mode ~= 'proven' then
    return {'taken'}
  end
  local generation = redis.call('HINCRBY', s, 'gen', 1)
  redis.call('HSET', s, 'node', me, 'token', token, 'name', name)
  redis.call('PERSIST', s)
  if node and node ~= '' and node ~= me then
    redis.call('SREM', P .. 'node-sessions:' .. node, key)
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
  if elsewhere then
    redis.call('PUBLISH', P .. 'node:' .. node, 'moved ' .. generation .. ' ' .. key)
  end
  return {'ok', generation, by_token and 1 or 0}
end

if op == 'release' then
  local key, generation = ARGV[4], ARGV[5]
  local s = P .. 'session:' .. key
  local held = redis.call('HMGET', s, 'node', 'gen')
  if held[1] ~= me or held[2] ~= generation then
    return 0
  end
  redis.call('DEL', s)
  redis.call('SREM', P .. 'node-sessions:' .. me, key)
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
  local held = redis.call('HMGET', P .. 'session:' .. key, 'node', 'gen')
  if held[1] ~= me or held[2] ~= generation then
    return {'moved'}
  end
  local m = P .. 'members:' .. room
  local was = owner(redis.call('HGET', m, key))
  redis.call('HSET', m, key, me .. ' ' .. name)
  redis.call('SADD', P .. 'node-members:' .. me, key .. '\n' .. room)
  if not was then
    presence(room, name, true, me, redis.call('HINCRBY', P .. 'rooms', room, 1))
  elseif was ~= me then
    -- A session taken over from another relay: its place in the room is this relay's now.
    redis.call('SREM', P .. 'node-members:' .. was, key .. '\n' .. room)
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
    if redis.call('HGET', s, 'node') == dead then
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
