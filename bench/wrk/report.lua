-- Included by every wrk script of the benchmarks: done() prints one line "WRKJSON {...}" with the
-- totals and latency percentiles (microseconds) for bench/lib/wrk.mjs to parse. Scripts may define
-- extra_json(threads) returning a JSON fragment (',"key":value...') with their own counters.
threads = {}
local counter = 0

function setup(thread)
  counter = counter + 1
  thread:set("thread_id", counter)
  table.insert(threads, thread)
end

function done(summary, latency, requests)
  local e = summary.errors
  local extra = ""
  if extra_json then extra = extra_json(threads) end
  io.write(string.format(
    'WRKJSON {"duration_us":%d,"requests":%d,"bytes":%d,' ..
    '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
    '"latency_us":{"mean":%.1f,"max":%d,"p50":%d,"p90":%d,"p99":%d,"p999":%d}%s}\n',
    summary.duration, summary.requests, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency.mean, latency.max, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency:percentile(99.9), extra))
end
