-- wrk script of the lookup bench's lean client (bench/lookup.ts, `wrkCase`): replays pre-signed
-- LookupEvents requests, in order, over wrk's one keep-alive connection (`wrk -t1 -c1`), and stops
-- after the last of them has been answered.
--
--   wrk -t1 -c1 -d3600s --timeout 60s -s bench/wrk-lookup.lua http://HOST:PORT/ -- REQUESTS_FILE
--
-- REQUESTS_FILE holds whole HTTP requests, each as "<bytes>\n<request bytes>". Each request is
-- timed by this script (CLOCK_MONOTONIC through LuaJIT's ffi, from request(), just before wrk
-- writes it, to response(), when its answer is complete): one sample per request, in request
-- order, paired with the server's `Server-Timing: app;dur=<ms>` of the same answer. Not wrk's
-- own latency statistics: wrk 4 "corrects" them for coordinated omission after the run, adding
-- made-up samples below every slow one as if requests had been sent at a fixed rate (546 samples
-- for 500 requests in a check against a trivial server, the p99 21.5 ms where the requests' own
-- was 1.2 ms), which is wrong for a client that sends each request when the previous answer came.
-- response() also checks each status and counts the events of each answer.
-- done() prints one line "wrk-lookup <json>" that bench/lookup.ts reads.

local requests = {}
local calls = 0
local answered = 0

local ffi = require('ffi')
ffi.cdef[[
  typedef struct { long tv_sec; long tv_nsec; } wrk_lookup_timespec;
  int clock_gettime(int clock, wrk_lookup_timespec *ts);
]]
local ts = ffi.new('wrk_lookup_timespec')
local function now_us()
  ffi.C.clock_gettime(1, ts) -- CLOCK_MONOTONIC
  return tonumber(ts.tv_sec) * 1e6 + tonumber(ts.tv_nsec) / 1e3
end
local sent_at = 0

-- Globals of the running thread, read by done() through thread:get().
server_ms = {}
client_us = {}
events = 0
not_ok = 0
first_not_ok = ''

function init(args)
  local f = assert(io.open(args[1], 'rb'))
  local data = f:read('*a')
  f:close()
  local at = 1
  while at <= #data do
    local nl = data:find('\n', at, true)
    local len = tonumber(data:sub(at, nl - 1))
    requests[#requests + 1] = data:sub(nl + 1, nl + len)
    at = nl + 1 + len
  end
end

-- wrk calls request() once before the run to check what it returns (how many requests the string
-- holds: its pipelining), then once per request sent; after the last answer the thread stops.
function request()
  calls = calls + 1
  sent_at = now_us()
  return requests[math.max(1, math.min(calls - 1, #requests))]
end

function response(status, headers, body)
  client_us[#client_us + 1] = now_us() - sent_at
  answered = answered + 1
  if status ~= 200 then
    not_ok = not_ok + 1
    if first_not_ok == '' then first_not_ok = status .. ' ' .. body:sub(1, 300) end
  end
  local timing
  for k, v in pairs(headers) do
    if k:lower() == 'server-timing' then timing = v end
  end
  local dur = timing and timing:match('app;dur=([%d%.]+)')
  server_ms[#server_ms + 1] = dur and tonumber(dur) or -1
  local _, n = body:gsub('"EventId"', '')
  events = events + n
  if answered >= #requests then
    -- The thread stops; wrk's main thread still sleeps for -d unless interrupted: the caller sends
    -- SIGINT when it reads this line, and wrk then prints its summary and runs done().
    wrk.thread:stop()
    io.write('wrk-lookup-answered\n')
    io.flush()
  end
end

local threads = {}

function setup(thread)
  threads[#threads + 1] = thread
end

local function quote(s)
  return '"' .. s:gsub('[%c"\\]', function(c) return string.format('\\u%04x', c:byte()) end) .. '"'
end

function done(summary)
  local t = threads[1]
  local server = t:get('server_ms')
  local ms = {}
  for i = 1, #server do ms[i] = string.format('%.3f', server[i]) end
  local client = t:get('client_us')
  local us = {}
  for i = 1, #client do us[i] = string.format('%.1f', client[i]) end
  local e = summary.errors
  io.write('wrk-lookup {"requests":', summary.requests, ',"durationUs":', summary.duration,
    ',"errors":{"connect":', e.connect, ',"read":', e.read, ',"write":', e.write, ',"status":', e.status, ',"timeout":', e.timeout, '}',
    ',"serverMs":[', table.concat(ms, ','), ']', ',"clientUs":[', table.concat(us, ','), ']',
    ',"events":', t:get('events'), ',"notOk":', t:get('not_ok'), ',"firstNotOk":', quote(t:get('first_not_ok')), '}\n')
end
