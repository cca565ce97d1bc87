#!lua
-- Stores one message atomically: numbers it, appends it to its conversation's log, puts a
-- private message in its recipient's mailbox, remembers its mid, trims the log, publishes it.
-- Every argument is checked before the first write, so a refused call writes nothing. The
-- shebang makes Redis refuse the whole script up front when it is out of memory.
--
-- KEYS[1] the conversation's seq counter      KEYS[2] its log (sorted set by seq)
-- KEYS[3] the sender's mid key (unused without a mid)
-- KEYS[4] the recipient's mailbox, KEYS[5] its sizes (private messages only)
-- KEYS[6], KEYS[7] the sender's and the recipient's correspondents (sets; private messages only)
-- last key: the sender's session (KEYS[4] for a room message, KEYS[8] for a private one)
-- ARGV[1] the message's JSON up to its seq    ARGV[2] the JSON after its seq
-- ARGV[3] ts                                  ARGV[4] mid, or "" for none
-- ARGV[5] dedup window in seconds (> 0)       ARGV[6] messages kept in the log (0: all)
-- ARGV[7] channel to publish on (a private message: the sender's)   ARGV[8] "room" or "direct"
-- private messages only:
-- ARGV[9] sender key   ARGV[10] sender address, or ""   ARGV[11] cost (bytes)
-- ARGV[12] mailbox messages  ARGV[13] mailbox bytes  ARGV[14] share messages  ARGV[15] share bytes
-- ARGV[16] recipient key     ARGV[17] the recipient's channel
-- last two arguments (ARGV[9], [10] for a room message; [18], [19] for a private one): the
-- node id and generation of the sender's session, or "" and 0 to store whoever holds it.
--
-- A room message is published as its JSON; a private message as {f: sender key, t: recipient
-- key, i: mail id, m: the message's JSON}, on the sender's channel and the recipient's.
--
-- Returns {"stored", seq, ts}, {"repeat", seq, ts, log key of the original} (the mid was
-- seen: nothing written), {"full"} (the mailbox or the sender's share of it is full:
-- nothing written, no seq used), or {"moved"} (the session is no longer the one named:
-- nothing written).

local function count(i)
  local n = tonumber(ARGV[i])
  if n == nil or n < 0 or n ~= math.floor(n) then
    return redis.error_reply('ERR courier store: argument ' .. i .. ' is not a count')
  end
  return n
end

local kind = ARGV[8]
if kind ~= 'room' and kind ~= 'direct' then
  return redis.error_reply('ERR courier store: kind must be room or direct')
end
if #KEYS ~= (kind == 'room' and 4 or 8) or #ARGV ~= (kind == 'room' and 10 or 19) then
  return redis.error_reply('ERR courier store: wrong number of keys or arguments')
end
if ARGV[1] == '' or ARGV[2] == '' or ARGV[7] == '' then
  return redis.error_reply('ERR courier store: empty message or channel')
end
local ts = count(3)
if type(ts) ~= 'number' then return ts end
local mid = ARGV[4]
if #mid > 256 then
  return redis.error_reply('ERR courier store: mid too long')
end
local window = count(5)
if type(window) ~= 'number' then return window end
if window < 1 then
  return redis.error_reply('ERR courier store: the dedup window must be at least 1 s')
end
local keep = count(6)
if type(keep) ~= 'number' then return keep end

local limits = {}
if kind == 'direct' then
  if ARGV[9] == '' or ARGV[16] == '' or ARGV[17] == '' then
    return redis.error_reply('ERR courier store: empty sender, recipient or channel')
  end
  for i = 11, 15 do
    local n = count(i)
    if type(n) ~= 'number' then return n end
    limits[i] = n
  end
end

-- A relay acts for a session only while it holds it (fencing: engine/cluster.rs): it is the
-- session's node, or holds connections of it ("n:NODE", cluster.lua), in its generation.
local node, generation = ARGV[#ARGV - 1], ARGV[#ARGV]
if node ~= '' then
  local held = redis.call('HMGET', KEYS[#KEYS], 'node', 'gen', 'n:' .. node)
  if held[2] ~= generation or (held[1] ~= node and (tonumber(held[3]) or 0) <= 0) then
    return {'moved'}
  end
end

-- A mid seen within the window: the original's acknowledgement, nothing written.
if mid ~= '' then
  local seen = redis.call('GET', KEYS[3])
  if seen then
    local seq, seen_ts, log = string.match(seen, '^(%d+) (%d+) (.*)$')
    if seq == nil then
      return redis.error_reply('ERR courier store: damaged mid key ' .. KEYS[3])
    end
    return {'repeat', tonumber(seq), tonumber(seen_ts), log}
  end
end

-- A private message must fit its recipient's mailbox: the whole of it, then the sender's share
-- by name and by address (the same rules as the SQLite store's writer).
local cost = 0
if kind == 'direct' then
  cost = limits[11]
  local function fits(n_field, b_field, max_n, max_b)
    local held = redis.call('HMGET', KEYS[5], n_field, b_field)
    local n, b = tonumber(held[1]) or 0, tonumber(held[2]) or 0
    return n < max_n and b + cost <= max_b
  end
  local sender, addr = ARGV[9], ARGV[10]
  if not fits('n', 'b', limits[12], limits[13])
      or not fits('n:s:' .. sender, 'b:s:' .. sender, limits[14], limits[15])
      or (addr ~= '' and not fits('n:a:' .. addr, 'b:a:' .. addr, limits[14], limits[15])) then
    return {'full'}
  end
end

-- Writes from here on.
local mail_id = 0
local seq = redis.call('INCR', KEYS[1])
local json = ARGV[1] .. seq .. ARGV[2]
redis.call('ZADD', KEYS[2], seq, json)

if kind == 'direct' then
  local sender, addr = ARGV[9], ARGV[10]
  -- Who each has written with: what forgetting a name clears (users.rs).
  redis.call('SADD', KEYS[6], ARGV[16])
  redis.call('SADD', KEYS[7], sender)
  local id = redis.call('HINCRBY', KEYS[5], 'id', 1)
  mail_id = id
  local entry = cjson.encode({k = sender, a = addr, c = tostring(cost), q = tostring(seq), m = json})
  redis.call('ZADD', KEYS[4], id, entry)
  redis.call('HINCRBY', KEYS[5], 'n', 1)
  redis.call('HINCRBY', KEYS[5], 'b', cost)
  redis.call('HINCRBY', KEYS[5], 'n:s:' .. sender, 1)
  redis.call('HINCRBY', KEYS[5], 'b:s:' .. sender, cost)
  if addr ~= '' then
    redis.call('HINCRBY', KEYS[5], 'n:a:' .. addr, 1)
    redis.call('HINCRBY', KEYS[5], 'b:a:' .. addr, cost)
  end
end

if mid ~= '' then
  redis.call('SET', KEYS[3], seq .. ' ' .. ARGV[3] .. ' ' .. KEYS[2], 'EX', window)
end
if keep > 0 then
  -- Mail waiting in a mailbox is a copy: trimming the log never loses it.
  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', seq - keep)
end
if kind == 'room' then
  redis.call('PUBLISH', ARGV[7], json)
else
  local envelope = cjson.encode({f = ARGV[9], t = ARGV[16], i = mail_id, m = json})
  redis.call('PUBLISH', ARGV[7], envelope)
  if ARGV[17] ~= ARGV[7] then
    redis.call('PUBLISH', ARGV[17], envelope)
  end
end
return {'stored', seq, ts, mail_id}
