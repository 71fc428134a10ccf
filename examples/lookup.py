#!/usr/bin/env python3
"""Look up one client by id in Roster, with nothing but the standard library.

usage: ROSTER_SOCKET=/run/roster/roster.sock lookup.py CLIENT-ID

Roster speaks Varlink over a Unix socket: each message is one JSON object
followed by a NUL byte. The daemon knows the caller by its uid (SO_PEERCRED),
so nothing is sent to identify the service, and the reply holds only the
fields that account's role may see. Exit status: 0 found, 1 other failure,
2 usage, 3 not found, 4 permission denied, 5 quota exceeded, 6 locked (the
same in lookup.c and lookup.go).
"""
import json
import os
import socket
import sys

# The daemon never sends more than 16 MiB in one reply.
MAX_REPLY = 16 * 1024 * 1024


def call(sock, method, parameters):
    """Send one call and return the reply object."""
    msg = {"method": method, "parameters": parameters}
    sock.sendall(json.dumps(msg).encode() + b"\0")
    buf = b""
    while b"\0" not in buf:
        data = sock.recv(65536)
        if not data:
            raise ConnectionError("the registry closed the connection")
        buf += data
        if len(buf) > MAX_REPLY:
            raise ConnectionError("reply too large")
    return json.loads(buf[:buf.index(b"\0")])


def main():
    if len(sys.argv) != 2:
        print("usage: lookup.py CLIENT-ID", file=sys.stderr)
        return 2
    client_id = sys.argv[1]
    path = os.environ.get("ROSTER_SOCKET", "/run/roster/roster.sock")
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(30)
            sock.connect(path)
            reply = call(sock, "io.roster.Clients.Get", {"id": client_id})
    except (OSError, ValueError) as e:
        print("lookup: cannot reach the registry: %s" % e, file=sys.stderr)
        return 1

    error = reply.get("error")
    message = reply.get("parameters", {}).get("message", "")
    if error is None:
        # Hidden field classes are absent from the object, not empty.
        print(json.dumps(reply["parameters"]["client"], sort_keys=True, separators=(",", ":")))
        return 0
    if error == "io.roster.NotFound":
        print("lookup: no client has the id %s" % client_id, file=sys.stderr)
        return 3
    if error == "io.roster.PermissionDenied":
        print("lookup: permission denied: this account is not a principal whose role "
              "may read clients (%s)" % message, file=sys.stderr)
        return 4
    if error == "io.roster.QuotaExceeded":
        print("lookup: quota exceeded: this service has read as many records as its "
              "role allows for now", file=sys.stderr)
        return 5
    if error == "io.roster.Locked":
        print("lookup: this service's principal is locked; an admin must unlock it "
              "(rosterctl principal unlock NAME)", file=sys.stderr)
        return 6
    print("lookup: %s %s" % (error, message), file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
