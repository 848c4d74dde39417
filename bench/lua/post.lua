-- wrk script: POST one fixed body read from a file, then print a JSON summary line.
--   wrk ... -s post.lua URL -- BODY_FILE CONTENT_TYPE [INFERENCE_HEADER_CONTENT_LENGTH]
-- The third argument adds KServe v2's binary-extension header.

function init(args)
   local f = assert(io.open(args[1], "rb"))
   wrk.method = "POST"
   wrk.body = f:read("*a")
   f:close()
   wrk.headers["Content-Type"] = args[2]
   if args[3] and args[3] ~= "" then
      wrk.headers["Inference-Header-Content-Length"] = args[3]
   end
end

function done(summary, latency, requests)
   local e = summary.errors
   io.write(string.format(
      'BENCH_RESULT {"requests": %d, "duration_us": %d, "bytes": %d, "p50_us": %d, "p99_us": %d, ' ..
      '"mean_us": %.1f, "max_us": %d, "connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}\n',
      summary.requests, summary.duration, summary.bytes,
      latency:percentile(50), latency:percentile(99), latency.mean, latency.max,
      e.connect, e.read, e.write, e.status, e.timeout))
end
