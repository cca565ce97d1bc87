#!lua
-- Removes from a mailbox the mail of one sender up to a seq (an `ack`), or the mail with the
-- given ids (mail counted as received once queued, for clients without acks), and takes it off
-- the mailbox's sizes.
--
-- KEYS[1] the mailbox (sorted set by mail id)   KEYS[2] its sizes (hash)
-- ARGV[1] "ack" or "ids"
-- ack: ARGV[2] the sender's key, ARGV[3] the seq up to which (inclusive)
-- ids: ARGV[2..] mail ids
--
-- Returns how many mails were removed. Bounded by the mailbox's limits: a mailbox holds at
-- most as many entries as its message limit.

local mode = ARGV[1]
if #KEYS ~= 2 then
  return redis.error_reply('ERR courier ack: wrong number of keys')
end
local wanted = {}
local sender, upto
if mode == 'ack' then
  sender, upto = ARGV[2], tonumber(ARGV[3])
  if #ARGV ~= 3 or sender == nil or sender == '' or upto == nil then
    return redis.error_reply('ERR courier ack: ack needs a sender key and a seq')
  end
elseif mode == 'ids' then
  for i = 2, #ARGV do
    local id = tonumber(ARGV[i])
    if id == nil then
      return redis.error_reply('ERR courier ack: mail id ' .. ARGV[i] .. ' is not a number')
    end
    wanted[id] = true
  end
else
  return redis.error_reply('ERR courier ack: mode must be ack or ids')
end

local entries = redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES')
local removed = 0
for i = 1, #entries, 2 do
  local member, id = entries[i], tonumber(entries[i + 1])
  local mail = cjson.decode(member)
  local take
  if mode == 'ack' then
    take = mail.k == sender and tonumber(mail.q) <= upto
  else
    take = wanted[id] == true
  end
  if take then
    local cost = tonumber(mail.c)
    redis.call('ZREM', KEYS[1], member)
    redis.call('HINCRBY', KEYS[2], 'n', -1)
    redis.call('HINCRBY', KEYS[2], 'b', -cost)
    local fields = {'s:' .. mail.k}
    if mail.a ~= '' then fields[2] = 'a:' .. mail.a end
    for _, f in ipairs(fields) do
      if redis.call('HINCRBY', KEYS[2], 'n:' .. f, -1) <= 0 then
        redis.call('HDEL', KEYS[2], 'n:' .. f, 'b:' .. f)
      else
        redis.call('HINCRBY', KEYS[2], 'b:' .. f, -cost)
      end
    end
    removed = removed + 1
  end
end
return removed
