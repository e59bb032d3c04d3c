-- wrk script: POST envelopes of `batch` new indicators (unique ids) to measure durable
-- ingest without a Python client in the way. Usage (see bench/taxii.sh):
--   wrk -s bench/ingest.lua -H "Authorization: Basic ..." URL/objects/ -- BATCH [STREAM]
-- STREAM (0-255, default 0) keeps the ids of several wrk processes run at once apart.
-- Only 2xx answers count as acknowledged.
-- Globals, not locals: wrk's setup() and done() reach a thread's values only through
-- thread:set / thread:get, which see globals alone.
batch = 1000
stream = 0
thread_id = 0
local counter = 0
local threads = {}

function setup(thread)
  thread:set("thread_id", #threads + 1)
  table.insert(threads, thread)
end

function init(args)
  batch = tonumber(args[1] or "1000")
  stream = tonumber(args[2] or "0")
  math.randomseed(os.time() + thread_id * 7919 + stream * 104729)
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/taxii+json;version=2.1"
  wrk.headers["Accept"] = "application/taxii+json;version=2.1"
end

local function uuid()
  counter = counter + 1
  return string.format("%08x-%04x-4%03x-8%03x-%012x", math.random(0, 0x7fffffff), stream * 256 + thread_id,
    math.random(0, 0xfff), math.random(0, 0xfff), counter)
end

function request()
  local parts = {}
  for i = 1, batch do
    local id = uuid()
    parts[i] = '{"type":"indicator","spec_version":"2.1","id":"indicator--' .. id ..
      '","created":"2024-01-01T00:00:00.000Z","modified":"2024-01-01T00:00:00.000Z",' ..
      '"name":"bench ' .. id .. '","pattern":"[ipv4-addr:value = \'10.' .. (i % 250) ..
      '.0.1\']","pattern_type":"stix","valid_from":"2024-01-01T00:00:00Z"}'
  end
  return wrk.format(nil, nil, nil, '{"objects":[' .. table.concat(parts, ",") .. ']}')
end

function done(summary, latency, requests)
  -- done() runs in wrk's main Lua state, where init() never ran: ask a thread for its batch.
  batch = threads[1] and threads[1]:get("batch") or batch
  local ok = summary.requests - summary.errors.status
  io.write(string.format("objects/s: %.0f (%d envelopes of %d acknowledged, %d non-2xx)\n",
    ok / (summary.duration / 1e6) * batch, ok, batch, summary.errors.status))
  io.write(string.format("acknowledged_objects %d seconds %.3f\n", ok * batch,
    summary.duration / 1e6))
end
