"""Load generators for the serving benchmark, each in its own process.

- `wrk_run`: Debian's wrk (C, closed loop) cycling through real request
  bodies; throughput, P50/P90/P99, errors (non-2xx, socket errors).
- `python -m benchmarks.serving_load grpc ...`: an asyncio gRPC client with
  the real PredictionServiceStub (wrk speaks no gRPC).
- `python -m benchmarks.serving_load rate ...`: an open-loop HTTP client at a
  fixed request rate over keep-alive connections; latency is measured from
  the scheduled send time, so queueing is counted (no coordinated omission).
"""
import asyncio
import json
import os
import re
import subprocess
import sys
import time

_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3}


def _ms(text):
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", text).groups()
    return float(number) * _UNITS[unit]


def lua_script(path, url_path, bodies):
    lines = ["bodies = {"] + [f"  {json.dumps(b.decode())}," for b in bodies] + [
        "}", "i = 0", "request = function()", "  i = i % #bodies + 1",
        f'  return wrk.format("POST", "{url_path}", nil, bodies[i])', "end"]
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


def wrk_run(port, script, connections, seconds, threads=1):
    result = subprocess.run(
        ["wrk", f"-t{min(threads, connections)}", f"-c{connections}",
         f"-d{seconds}s", "--timeout", "30s", "--latency", "-s", script,
         f"http://127.0.0.1:{port}/"], capture_output=True, text=True,
        timeout=seconds + 60)
    out = result.stdout
    stats = {"requests_per_s": float(re.search(r"Requests/sec:\s+([\d.]+)", out)
                                     .group(1))}
    for pct in ("50", "90", "99"):
        match = re.search(rf"^\s+{pct}(?:\.000)?%\s+(\S+)", out, re.M)
        stats[f"p{pct}_ms"] = _ms(match.group(1)) if match else None
    total = int(re.search(r"(\d+) requests in", out).group(1))
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    socket = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), "
                       r"timeout (\d+)", out)
    stats["requests"] = total
    stats["errors"] = (int(non_2xx.group(1)) if non_2xx else 0) + (
        sum(int(g) for g in socket.groups()) if socket else 0)
    return stats


def _percentiles(latencies_ms, elapsed, errors):
    latencies_ms.sort()
    n = len(latencies_ms)

    def pct(p):
        return latencies_ms[min(n - 1, int(p / 100 * n))] if n else None
    return {"requests_per_s": n / elapsed, "p50_ms": pct(50), "p90_ms": pct(90),
            "p99_ms": pct(99), "requests": n + errors, "errors": errors}


async def _grpc(target, request_file, connections, seconds):
    import grpc
    from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc
    with open(request_file, "rb") as f:
        requests = [predict_pb2.PredictRequest.FromString(line)
                    for line in f.read().split(b"\0REQ\0") if line]
    channel = grpc.aio.insecure_channel(target)
    stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
    await stub.Predict(requests[0], timeout=30)
    latencies, errors = [], [0]
    deadline = time.perf_counter() + seconds

    async def client(offset):
        i = offset
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            try:
                await stub.Predict(requests[i % len(requests)], timeout=30)
                latencies.append((time.perf_counter() - started) * 1e3)
            except grpc.RpcError:
                errors[0] += 1
            i += 1
    started = time.perf_counter()
    await asyncio.gather(*(client(k) for k in range(connections)))
    return _percentiles(latencies, time.perf_counter() - started, errors[0])


async def _rate(port, body_file, rate, seconds, connections):
    with open(body_file) as f:
        bodies = [b.encode() for b in json.load(f)]
    queue = asyncio.Queue()
    latencies, errors = [], [0]

    async def worker():
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        while True:
            item = await queue.get()
            if item is None:
                writer.close()
                return
            scheduled, body = item
            writer.write(b"POST /v1/models/taxi:predict HTTP/1.1\r\nHost: x\r\n"
                         b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
            head = await reader.readuntil(b"\r\n\r\n")
            length = int(re.search(rb"Content-Length: (\d+)", head).group(1))
            await reader.readexactly(length)
            if head.startswith(b"HTTP/1.1 200"):
                latencies.append((time.perf_counter() - scheduled) * 1e3)
            else:
                errors[0] += 1
    workers = [asyncio.create_task(worker()) for _ in range(connections)]
    start = time.perf_counter()
    total = int(rate * seconds)
    for i in range(total):
        scheduled = start + i / rate
        delay = scheduled - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        queue.put_nowait((scheduled, bodies[i % len(bodies)]))
    for _ in workers:
        queue.put_nowait(None)
    await asyncio.gather(*workers)
    return _percentiles(latencies, time.perf_counter() - start, errors[0])


def run_child(*args, timeout=600):
    """Runs this module in a child process; returns its JSON result."""
    result = subprocess.run([sys.executable, "-m", "benchmarks.serving_load",
                             *map(str, args)], capture_output=True, text=True,
                            timeout=timeout, env=dict(os.environ,
                                                      TF_CPP_MIN_LOG_LEVEL="3"))
    if result.returncode:
        raise RuntimeError(f"load generator failed: {result.stderr[-2000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


if __name__ == "__main__":
    mode = sys.argv[1]
    if mode == "grpc":
        target, request_file, connections, seconds = sys.argv[2:6]
        stats = asyncio.run(_grpc(target, request_file, int(connections),
                                  float(seconds)))
    else:
        port, body_file, rate, seconds, connections = sys.argv[2:7]
        stats = asyncio.run(_rate(int(port), body_file, float(rate),
                                  float(seconds), int(connections)))
    print(json.dumps(stats))
