"""The peer side of the kernels benchmark: jupyter_client's BlockingKernelClient
against the same ipykernel, measured the same way as our client. Prints JSON."""
import json, resource, sys, time

from jupyter_client.manager import KernelManager


def cpu():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def run(kc, code):
    """Execute and wait for both the reply and the idle status; count messages."""
    msg_id = kc.execute(code)
    n, idle, reply = 0, False, False
    while not (idle and reply):
        if not idle:
            m = kc.get_iopub_msg(timeout=120)
            if m["parent_header"].get("msg_id") != msg_id:
                continue
            n += 1
            if m["msg_type"] == "status" and m["content"]["execution_state"] == "idle":
                idle = True
        else:
            r = kc.get_shell_msg(timeout=120)
            if r["parent_header"].get("msg_id") == msg_id:
                reply = True
            continue
        if not reply:
            try:
                r = kc.get_shell_msg(timeout=0)
                if r["parent_header"].get("msg_id") == msg_id:
                    reply = True
            except Exception:
                pass
    return n


def main():
    runs, lines = int(sys.argv[1]), int(sys.argv[2])
    t = time.perf_counter()
    km = KernelManager(kernel_name="python3")
    km.start_kernel()
    kc = km.client()
    kc.start_channels()
    kc.wait_for_ready(timeout=120)
    start = time.perf_counter() - t
    for _ in range(20):
        run(kc, "1+1")
    rt = []
    for _ in range(runs):
        t = time.perf_counter()
        run(kc, "1+1")
        rt.append(time.perf_counter() - t)
    c0, t = cpu(), time.perf_counter()
    n = run(kc, f"for i in range({lines}): print(i)")
    lines_s, lines_cpu = time.perf_counter() - t, cpu() - c0
    # One message per line: what per-message cost really means.
    c0, t = cpu(), time.perf_counter()
    fn = run(kc, f"for i in range({lines // 5}): print(i, flush=True)")
    flushed_s, flushed_cpu = time.perf_counter() - t, cpu() - c0
    kc.stop_channels()
    km.shutdown_kernel(now=True)
    print(json.dumps({"start": start, "rt": rt, "lines_s": lines_s, "lines_cpu": lines_cpu, "msgs": n,
                      "flushed_s": flushed_s, "flushed_cpu": flushed_cpu, "flushed_msgs": fn}))


main()
