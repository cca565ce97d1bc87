#!lua
-- Changes one stored message atomically (engine/change.rs): finds the entry at score seq in its
-- conversation's log, refuses if it is not there or deleted, applies an edit, a deletion or a
-- reaction, bumps the conversation's revision, rewrites the entry with it, records the seq by
-- revision (for `changes`) and publishes the new state. The author was checked by the caller
-- against the entry's `from` (which never changes); this script checks the same `from` again.
--
-- KEYS[1] the log (sorted set by seq)   KEYS[2] the revision counter
-- KEYS[3] the changed seqs (sorted set, score = revision)   KEYS[4] the requester's session
-- ARGV[1] seq   ARGV[2] edit | delete | react | unreact   ARGV[3] the author's `from` (edit,
-- delete) or ""   ARGV[4] the requester's name (for a reaction, as already spelled with this
-- emoji if it is there: the caller compares names by key)   ARGV[5] text (edit) or emoji (react)
-- ARGV[6] edited at (ms)   ARGV[7] most emojis   ARGV[8] most reactions   ARGV[9] changed
-- seqs kept (0: all)   ARGV[10] who asked (JSON, passed on)   ARGV[11], ARGV[12] the channels
-- to publish on ("" for none)   ARGV[13], ARGV[14] node and generation of the requester's
-- session, or "" and 0.
--
-- Publishes 'c ' .. {"r": ARGV[10], "m": the message's JSON}.
-- Returns {"changed", rev, json}, {"unknown"}, {"forbidden"}, {"too_many"}, {"same"} (nothing
-- to do: nothing written) or {"moved"}.

if #KEYS ~= 4 or #ARGV ~= 14 then
  return redis.error_reply('ERR courier change: wrong number of keys or arguments')
end
local seq = tonumber(ARGV[1])
local op = ARGV[2]
if seq == nil or (op ~= 'edit' and op ~= 'delete' and op ~= 'react' and op ~= 'unreact') then
  return redis.error_reply('ERR courier change: bad seq or operation')
end

local node, generation = ARGV[13], ARGV[14]
if node ~= '' then
  local held = redis.call('HMGET', KEYS[4], 'node', 'gen', 'n:' .. node)
  if held[2] ~= generation or (held[1] ~= node and (tonumber(held[3]) or 0) <= 0) then
    return {'moved'}
  end
end

local found = redis.call('ZRANGEBYSCORE', KEYS[1], seq, seq)
if #found == 0 then return {'unknown'} end
local msg = cjson.decode(found[1])
if msg.deleted then return {'unknown'} end

if op == 'edit' or op == 'delete' then
  if msg.from ~= ARGV[3] then return {'forbidden'} end
end
if op == 'edit' then
  msg.text = ARGV[5]
  msg.edited = tonumber(ARGV[6])
elseif op == 'delete' then
  msg.text = ''
  msg.deleted = true
  msg.edited = nil
  msg.reactions = nil
  msg.reply = nil
else
  local emoji, name = ARGV[5], ARGV[4]
  local rs = msg.reactions or {}
  local at = nil
  for i, r in ipairs(rs) do
    if r.emoji == emoji then at = i end
  end
  local mine = nil
  if at then
    for j, n in ipairs(rs[at].names) do
      if n == name then mine = j end
    end
  end
  if op == 'react' then
    if mine then return {'same'} end
    local total = 0
    for _, r in ipairs(rs) do total = total + #r.names end
    if total >= tonumber(ARGV[8]) or (not at and #rs >= tonumber(ARGV[7])) then
      return {'too_many'}
    end
    if at then
      table.insert(rs[at].names, name)
    else
      table.insert(rs, {emoji = emoji, names = {name}})
    end
  else
    if not mine then return {'same'} end
    table.remove(rs[at].names, mine)
    if #rs[at].names == 0 then table.remove(rs, at) end
  end
  if #rs == 0 then msg.reactions = nil else msg.reactions = rs end
end

-- Writes from here on.
local rev = redis.call('INCR', KEYS[2])
msg.rev = rev
local json = cjson.encode(msg)
redis.call('ZREMRANGEBYSCORE', KEYS[1], seq, seq)
redis.call('ZADD', KEYS[1], seq, json)
redis.call('ZADD', KEYS[3], rev, seq)
local keep = tonumber(ARGV[9]) or 0
if keep > 0 then
  redis.call('ZREMRANGEBYRANK', KEYS[3], 0, -(keep + 1))
end
local payload = 'c ' .. cjson.encode({r = ARGV[10], m = json})
if ARGV[11] ~= '' then redis.call('PUBLISH', ARGV[11], payload) end
if ARGV[12] ~= '' and ARGV[12] ~= ARGV[11] then redis.call('PUBLISH', ARGV[12], payload) end
return {'changed', rev, json}
