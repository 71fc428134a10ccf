#!/usr/bin/env python3
"""A minimal Varlink client for the tests: standard library only.

usage: varlink.py SOCKET METHOD [JSON-PARAMETERS]   prints the reply as JSON

As a module it gives Conn, a connection that can send raw bytes, so the
protocol tests can split, merge and corrupt frames on purpose.
"""
import json
import os
import socket
import sys

# A daemon under valgrind answers many times slower: lib.sh exports the
# multiplier (ROSTER_TEST_SLOW) for every wait.
SLOW = max(1, int(os.environ.get("ROSTER_TEST_SLOW", "1") or 1))


class Conn:
    def __init__(self, path, timeout=10.0):
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.s.settimeout(timeout * SLOW)
        self.s.connect(path)
        self.buf = b""

    def send_raw(self, data):
        self.s.sendall(data)

    def send(self, method, params=None, **flags):
        msg = {"method": method}
        if params is not None:
            msg["parameters"] = params
        msg.update(flags)
        self.send_raw(json.dumps(msg).encode() + b"\0")

    def recv(self):
        """The next reply as a dict, or None if the daemon closed the connection."""
        while b"\0" not in self.buf:
            data = self.s.recv(65536)
            if not data:
                return None
            self.buf += data
        frame, _, self.buf = self.buf.partition(b"\0")
        return json.loads(frame)

    def call(self, method, params=None, **flags):
        self.send(method, params, **flags)
        return self.recv()

    def closed(self, timeout=5.0):
        """True if the daemon closes the connection (EOF) within timeout."""
        self.s.settimeout(timeout * SLOW)
        try:
            while True:
                data = self.s.recv(65536)
                if not data:
                    return True
                self.buf += data
        except (socket.timeout, TimeoutError):
            return False
        except ConnectionResetError:
            return True

    def close(self):
        self.s.close()


def main():
    if len(sys.argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    params = json.loads(sys.argv[3]) if len(sys.argv) > 3 else None
    # Init and Unseal run Argon2id (256 MiB); on a loaded test machine that
    # has taken more than the 10 s a protocol test waits for a reply.
    c = Conn(sys.argv[1], timeout=120.0)
    reply = c.call(sys.argv[2], params)
    c.close()
    print(json.dumps(reply))
    return 0


if __name__ == "__main__":
    sys.exit(main())
