-- wrk script of the lookup bench's lean client (bench/lookup.ts, `wrkCase`): replays pre-signed
-- LookupEvents requests, in order, over wrk's one keep-alive connection (`wrk -t1 -c1`), and stops
-- after the last of them has been answered.
--
--   wrk -t1 -c1 -d600s --timeout 30s -s bench/wrk-lookup.lua http://HOST:PORT/ -- REQUESTS_FILE
--
-- REQUESTS_FILE holds whole HTTP requests, each as "<bytes>\n<request bytes>". wrk times each one
-- itself (from the request's write to its answer's last byte) into its latency histogram, which
-- done() prints exactly (every distinct microsecond value with its count); response() keeps each
-- answer's status, the server's `Server-Timing: app;dur=<ms>` and the events in it, and each
-- request's own time in request order (to pair with its Server-Timing).
-- done() prints one line "wrk-lookup <json>" that bench/lookup.ts reads.

local requests = {}
local calls = 0
local answered = 0

-- Each request's own time as well (CLOCK_MONOTONIC through LuaJIT's ffi, from request() to
-- response()), to pair it with the server's Server-Timing of the same request: wrk's histogram
-- holds the same latencies, but not in request order. Without ffi (a wrk on plain Lua) the
-- pairs are left out.
local has_ffi, ffi = pcall(require, 'ffi')
local now_us
if has_ffi then
  ffi.cdef[[
    typedef struct { long tv_sec; long tv_nsec; } wrk_lookup_timespec;
    int clock_gettime(int clock, wrk_lookup_timespec *ts);
  ]]
  local ts = ffi.new('wrk_lookup_timespec')
  now_us = function()
    ffi.C.clock_gettime(1, ts)
    return tonumber(ts.tv_sec) * 1e6 + tonumber(ts.tv_nsec) / 1e3
  end
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
  if now_us then sent_at = now_us() end
  return requests[math.max(1, math.min(calls - 1, #requests))]
end

function response(status, headers, body)
  if now_us then client_us[#client_us + 1] = now_us() - sent_at end
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

function done(summary, latency, _)
  local t = threads[1]
  local values, counts = {}, {}
  for i = 1, #latency do
    local v, c = latency(i)
    values[#values + 1] = string.format('%d', v)
    counts[#counts + 1] = string.format('%d', c)
  end
  local server = t:get('server_ms')
  local ms = {}
  for i = 1, #server do ms[i] = string.format('%.3f', server[i]) end
  local client = t:get('client_us')
  local us = {}
  for i = 1, #client do us[i] = string.format('%.1f', client[i]) end
  local e = summary.errors
  io.write('wrk-lookup {"requests":', summary.requests, ',"durationUs":', summary.duration,
    ',"errors":{"connect":', e.connect, ',"read":', e.read, ',"write":', e.write, ',"status":', e.status, ',"timeout":', e.timeout, '}',
    ',"latencyUs":{"values":[', table.concat(values, ','), '],"counts":[', table.concat(counts, ','), ']}',
    ',"serverMs":[', table.concat(ms, ','), ']', ',"clientUs":[', table.concat(us, ','), ']',
    ',"events":', t:get('events'), ',"notOk":', t:get('not_ok'), ',"firstNotOk":', quote(t:get('first_not_ok')), '}\n')
end
