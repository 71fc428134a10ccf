#!/usr/bin/env python3
"""Load helpers for tests/e2e/limits.sh: standard library only.

usage: limits.py SOCKET stall N           hold N stalled connections (half of
                                          them mid-message) and a flood of
                                          malformed frames, while timing
                                          Status on a fresh connection
       limits.py SOCKET partial           time how long a half-sent message
                                          (and a trickled one) survives
       limits.py SOCKET seed N            create N clients with 4000-character
                                          notes (so a List reply is megabytes)
       limits.py SOCKET fill N PID SECS   N clients that send Clients.List
                                          calls with huge replies and do not
                                          read for SECS, while the daemon
                                          (PID)'s peak RSS is sampled; then
                                          report whether each was dropped
       limits.py SOCKET hold N SECONDS    hold N connections open, then exit
Prints "key value" lines for the shell test to check; exits 0.
"""
import json
import os
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from varlink import Conn  # noqa: E402

SOCK, MODE = sys.argv[1], sys.argv[2]
STATUS = b'{"method":"io.roster.Admin.Status"}\0'


def raw_connect():
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    # Blocking: a Unix socket with a timeout fails connect() with EAGAIN at
    # once when the listen backlog is full, as it is while a busy daemon
    # catches up with hundreds of connections.
    s.connect(SOCK)
    s.settimeout(30)
    return s


def timed_status():
    """Seconds for connect + Status + reply on a fresh connection, or None on failure."""
    t0 = time.monotonic()
    try:
        c = Conn(SOCK, timeout=10)
        r = c.call("io.roster.Admin.Status")
        c.close()
    except OSError:
        return None
    if not r or "parameters" not in r:
        return None
    return time.monotonic() - t0


def stall(n):
    held, refused = [], 0
    for i in range(n):
        try:
            s = raw_connect()
            if i % 2:
                s.sendall(b'{"method":"io.roster.Admin.St')   # half a message
            held.append(s)
        except OSError:
            refused += 1
    time.sleep(1)
    # Connections the daemon refused are closed at once: count them.
    open_ = 0
    for s in held:
        s.setblocking(False)
        try:
            open_ += s.recv(1) != b""
        except BlockingIOError:
            open_ += 1
        except OSError:
            pass
    stop = threading.Event()
    flooded = [0]

    def flood():
        bad = [b"{not json}\0", b"[1,2]\0", b'{"method":5}\0', b"\xff\xfe\0", b"x" * 70000]
        while not stop.is_set():
            try:
                s = raw_connect()
                s.sendall(bad[flooded[0] % len(bad)])
                s.recv(4096)
                s.close()
            except OSError:
                pass
            flooded[0] += 1

    threads = [threading.Thread(target=flood) for _ in range(4)]
    for t in threads:
        t.start()
    time.sleep(0.5)
    times = [timed_status() for _ in range(5)]
    stop.set()
    for t in threads:
        t.join()
    print("held", open_)
    print("refused", n - open_)
    print("flood_frames", flooded[0])
    ok = [t for t in times if t is not None]
    print("status_ok", len(ok))
    print("status_max_ms", int(max(ok) * 1000) if ok else -1)
    for s in held:
        s.close()


def survives(sender):
    """Seconds until the daemon closes a connection fed by sender(socket, deadline)."""
    s = raw_connect()
    t0 = time.monotonic()
    sender(s, t0)
    s.settimeout(30)
    try:
        while s.recv(4096):
            pass
    except OSError:
        pass
    return time.monotonic() - t0


def partial():
    def half(s, t0):
        s.sendall(b'{"method":"io.roster.Admin.Status"')

    def trickle(s, t0):
        # A byte every 0.3 s: each byte arrives well within any timeout, the message never ends.
        msg = b'{"method":"io.roster.Admin.Status","parameters":{"pad":"' + b"y" * 200
        for b in msg:
            try:
                s.send(bytes([b]))
            except OSError:
                return
            s.settimeout(0.3)
            try:
                if s.recv(1) == b"":
                    return
            except socket.timeout:
                pass
            except OSError:
                return
    print("half_s", "%.2f" % survives(half))
    print("trickle_s", "%.2f" % survives(trickle))


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def seed(n):
    conns = [Conn(SOCK, timeout=60) for _ in range(8)]
    notes = "n" * 4000
    for i in range(n):
        conns[i % 8].send("io.roster.Clients.Create",
                          {"client": {"name": "Bulk %05d" % i, "kind": "other", "notes": notes}})
    ok = 0
    for i in range(n):
        r = conns[i % 8].recv()
        ok += bool(r and "parameters" in r and "id" in r["parameters"])
    print("created", ok)


def fill(n, pid, secs):
    """Each client pipelines List calls whose replies are megabytes, and does not read."""
    msg = json.dumps({"method": "io.roster.Clients.List", "parameters": {"limit": 100}}).encode() + b"\0"
    socks = []
    for _ in range(n):
        s = raw_connect()
        s.setblocking(False)
        try:
            for _ in range(50):
                s.send(msg)
        except BlockingIOError:
            pass
        socks.append(s)
    peak = 0
    t_end = time.monotonic() + secs
    while time.monotonic() < t_end:
        peak = max(peak, rss_kb(pid))
        time.sleep(0.05)
    print("rss_peak_kb", peak)
    # Now read: a dropped connection yields what the kernel held, then EOF.
    dropped, received = 0, 0
    for s in socks:
        s.setblocking(True)
        s.settimeout(10)
        try:
            while True:
                d = s.recv(1 << 20)
                if not d:
                    dropped += 1
                    break
                received += len(d)
        except OSError:
            pass
        s.close()
    print("dropped", dropped)
    print("received_kb", received >> 10)
    print("rss_after_kb", rss_kb(pid))


def hold(n, secs):
    socks = [raw_connect() for _ in range(n)]
    print("holding", len(socks))
    sys.stdout.flush()
    time.sleep(secs)


if MODE == "stall":
    stall(int(sys.argv[3]))
elif MODE == "partial":
    partial()
elif MODE == "seed":
    seed(int(sys.argv[3]))
elif MODE == "fill":
    fill(int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5]))
elif MODE == "hold":
    hold(int(sys.argv[3]), float(sys.argv[4]))
else:
    sys.exit(__doc__)
