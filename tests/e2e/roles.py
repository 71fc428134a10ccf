#!/usr/bin/env python3
"""Raw Varlink probes for roles.sh, run under the uid being tested (setpriv).

usage: roles.py SOCKET COMMAND ...

  matrix CAPS FIXTURE [--token T]
      Call every method the daemon describes (GetInfo, GetInterfaceDescription)
      on one connection, Seal last, and compare each outcome with what a caller
      holding CAPS (comma-separated capabilities, "all" or "none") must get.
      Prints a JSON object {"results": {method: outcome}, "mismatches": [...]}
      and exits 1 if any outcome differs, or a method has no expectation here.
  table LABEL=FILE ...
      Print the matrix files as one table of comment lines (# ...).
  keys METHOD ID QUERY [--token T]
      The sorted keys of client ID as METHOD (Get, Search for QUERY, or List)
      returns it, comma-separated, or the call's outcome if it failed.
  call METHOD [JSON-PARAMETERS] [--token T]
      One call on a new connection: its outcome, preceded by the outcome of
      Authenticate when a token is given ("ok ok", "AuthenticationRequired ...").
  session METHOD JSON-PARAMETERS [--token T]
      On one connection (authenticated first with the token, if given), make
      the call, print its outcome, and again for every line read from stdin
      until end of file.

An outcome is "ok", or the error's name without "io.roster." (other errors,
such as org.varlink.service.*, keep their full name).
"""
import json
import os
import re
import sys

sys.dont_write_bytecode = True  # never leave __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from varlink import Conn  # noqa: E402

ALL_CAPS = [
    "clients.get", "clients.search", "clients.list", "clients.create",
    "clients.update", "clients.delete", "clients.export", "audit.read",
    "audit.verify", "admin.principals", "admin.keys", "admin.backup",
    "admin.seal",
]
PUBLIC = None
NOWHERE = "f" * 32  # a client id nothing has
WRONG_TOKEN = "roster_" + "0" * 64

# Every method and the capability it needs (PUBLIC: anyone, even an unknown
# uid), in the order the matrix calls them. Seal must stay last.
METHODS = [
    ("org.varlink.service.GetInfo", PUBLIC),
    ("org.varlink.service.GetInterfaceDescription", PUBLIC),
    ("io.roster.Admin.Status", PUBLIC),
    ("io.roster.Admin.WhoAmI", PUBLIC),
    ("io.roster.Admin.Authenticate", PUBLIC),
    ("io.roster.Clients.Get", "clients.get"),
    ("io.roster.Clients.Search", "clients.search"),
    ("io.roster.Clients.List", "clients.list"),
    ("io.roster.Clients.Create", "clients.create"),
    ("io.roster.Clients.Import", "clients.create"),
    ("io.roster.Clients.Update", "clients.update"),
    ("io.roster.Clients.Delete", "clients.delete"),
    ("io.roster.Clients.ExportRequest", "clients.export"),
    ("io.roster.Clients.ExportApprove", "clients.export"),
    ("io.roster.Clients.Export", "clients.export"),
    ("io.roster.Admin.PrincipalList", "admin.principals"),
    ("io.roster.Admin.PrincipalAdd", "admin.principals"),
    ("io.roster.Admin.PrincipalLock", "admin.principals"),
    ("io.roster.Admin.PrincipalUnlock", "admin.principals"),
    ("io.roster.Admin.TokenRotate", "admin.principals"),
    ("io.roster.Admin.PrincipalRemove", "admin.principals"),
    ("io.roster.Admin.RoleList", "admin.principals"),
    ("io.roster.Admin.RoleAdd", "admin.principals"),
    ("io.roster.Admin.RoleShow", "admin.principals"),
    ("io.roster.Admin.RoleRemove", "admin.principals"),
    ("io.roster.Admin.CanaryList", "admin.principals"),
    ("io.roster.Admin.CanaryAdd", "admin.principals"),
    ("io.roster.Audit.PublicKey", PUBLIC),
    ("io.roster.Audit.Query", "audit.read"),
    ("io.roster.Audit.Tail", "audit.read"),
    ("io.roster.Audit.Verify", "audit.verify"),
    ("io.roster.Audit.Checkpoint", "audit.verify"),
    ("io.roster.Admin.Backup", "admin.backup"),
    ("io.roster.Admin.Rekey", "admin.keys"),
    ("io.roster.Admin.Init", "admin.keys"),
    ("io.roster.Admin.Unseal", "admin.seal"),
    ("io.roster.Admin.Seal", "admin.seal"),
]

# What an allowed call answers when it is not "ok": the registry is
# initialised and unsealed, so Init and Unseal are refused by state, after
# the permission check; a wrong token is refused whoever presents it.
ALLOWED_OUTCOME = {
    # Called without "more" on purpose: the permission check comes first,
    # and no backup is streamed to the matrix.
    "io.roster.Admin.Backup": "org.varlink.service.ExpectedMore",
    # With a wrong passphrase: allowed, then refused, nothing changed.
    "io.roster.Admin.Rekey": "BadPassphrase",
    "io.roster.Admin.Init": "InvalidState",
    "io.roster.Admin.Unseal": "InvalidState",
    "io.roster.Admin.Authenticate": "AuthenticationRequired",
    # Both name a request nobody made.
    "io.roster.Clients.ExportApprove": "NotFound",
    "io.roster.Clients.Export": "NotFound",
}


def outcome(reply):
    if reply is None:
        return "closed"
    e = reply.get("error")
    if e is None:
        return "ok"
    return e[len("io.roster."):] if e.startswith("io.roster.") else e


def connect(token):
    """A connection, authenticated with token if given; and Authenticate's outcome."""
    c = Conn(SOCK)
    auth = None
    if token is not None:
        auth = outcome(c.call("io.roster.Admin.Authenticate", {"token": token}))
    return c, auth


def pop_token(args):
    if "--token" in args:
        i = args.index("--token")
        token = args[i + 1]
        del args[i:i + 2]
        return token
    return None


def described_methods():
    """Every method in the interfaces the daemon describes."""
    c = Conn(SOCK)
    info = c.call("org.varlink.service.GetInfo")
    names = []
    for iface in info["parameters"]["interfaces"]:
        d = c.call("org.varlink.service.GetInterfaceDescription", {"interface": iface})
        text = d["parameters"]["description"]
        names += [iface + "." + m for m in re.findall(r"^method\s+(\w+)", text, re.M)]
    c.close()
    return names


def matrix(args):
    token = pop_token(args)
    caps_arg, fixture = args
    caps = ALL_CAPS if caps_arg == "all" else [] if caps_arg == "none" else caps_arg.split(",")
    tag = "probe-%d" % os.getuid()
    mismatches = []
    known = [m for m, _ in METHODS]
    for m in described_methods():
        if m not in known:
            mismatches.append("%s: described by the daemon but has no expectation in "
                              "roles.py" % m)
    c, auth = connect(token)
    if token is not None and auth != "ok":
        mismatches.append("Authenticate with the principal's token: %s" % auth)
    state = {"created": None}

    def params(m):
        created = state["created"] or NOWHERE
        return {
            "org.varlink.service.GetInterfaceDescription": {"interface": "io.roster"},
            # On a connection of its own, so that this connection stays as it is.
            "io.roster.Admin.Authenticate": {"token": WRONG_TOKEN},
            "io.roster.Clients.Get": {"id": fixture},
            "io.roster.Clients.Search": {"query": "Fixture"},
            "io.roster.Clients.List": {"limit": 10},
            "io.roster.Clients.Create": {"client": {"name": "Matrix " + tag, "kind": "other"}},
            "io.roster.Clients.Import": {"clients": [{"name": "Matrix import " + tag,
                                                      "kind": "other"}]},
            "io.roster.Clients.Update": {"id": created, "changes": {"tier": "silver"},
                                         "version": 1},
            "io.roster.Clients.Delete": {"id": created},
            "io.roster.Clients.ExportApprove": {"id": NOWHERE},
            "io.roster.Clients.Export": {"approval": NOWHERE},
            # A throw-away principal on a uid of its own, with a token so that
            # TokenRotate applies; removed again by PrincipalRemove.
            "io.roster.Admin.PrincipalAdd": {"name": tag, "uid": 5990, "role": "service",
                                             "token": True},
            "io.roster.Admin.PrincipalLock": {"name": tag},
            "io.roster.Admin.PrincipalUnlock": {"name": tag},
            "io.roster.Admin.TokenRotate": {"name": tag},
            "io.roster.Admin.PrincipalRemove": {"name": tag},
            "io.roster.Admin.RoleAdd": {"name": tag, "capabilities": ["clients.get"],
                                        "fields": ["identity"]},
            "io.roster.Admin.RoleShow": {"name": tag},
            "io.roster.Admin.RoleRemove": {"name": tag},
            "io.roster.Audit.Query": {"limit": 1},
            "io.roster.Admin.CanaryAdd": {"client": {"name": "Probe canary " + tag, "kind": "other"}},
            "io.roster.Audit.Tail": {"after": 0},
            "io.roster.Admin.Init": {"passphrase": "not the passphrase at all"},
            "io.roster.Admin.Unseal": {"passphrase": "not the passphrase at all"},
            "io.roster.Admin.Rekey": {"passphrase": "not the passphrase at all",
                                      "new_passphrase": "nor is this one a good one"},
        }.get(m, {})

    results = {}
    for m, cap in METHODS:
        if m == "io.roster.Admin.Authenticate":
            other = Conn(SOCK)
            r = other.call(m, params(m))
            other.close()
        elif m in ("io.roster.Audit.Tail", "io.roster.Clients.Export"):
            # A stream: its first reply is enough, on a connection of its own.
            other, _ = connect(token)
            other.s.settimeout(5)
            try:
                r = other.call(m, params(m), more=True)
            except OSError:
                r = {"error": "timeout"}
            other.close()
        else:
            r = c.call(m, params(m))
        got = outcome(r)
        results[m] = got
        if m == "io.roster.Clients.Create" and got == "ok":
            state["created"] = r["parameters"]["id"]
        allowed = cap is PUBLIC or cap in caps
        want = ALLOWED_OUTCOME.get(m, "ok") if allowed else "PermissionDenied"
        if allowed and want == "ok" and params(m).get("id") == NOWHERE:
            want = "NotFound"   # allowed to update or delete, but not to create
        if got == "org.varlink.service.MethodNotFound":
            mismatches.append("%s: described by the daemon, but not in its method table "
                              "(MethodNotFound)" % m)
        elif got != want:
            mismatches.append("%s: expected %s, got %s" % (m, want, got))
    c.close()
    print(json.dumps({"results": results, "mismatches": mismatches}, indent=1))
    return 1 if mismatches else 0


def table(args):
    cols = []
    for a in args:
        label, _, path = a.partition("=")
        with open(path) as f:
            cols.append((label, json.load(f)["results"]))
    short = {"ok": "yes", "PermissionDenied": "-", "InvalidState": "yes(1)",
             "AuthenticationRequired": "(2)", "BadPassphrase": "yes(3)",
             "org.varlink.service.ExpectedMore": "yes(4)",
             "NotFound": "yes(5)"}
    width = max(len(m) for m, _ in METHODS)
    cw = [max(len(label), 6) for label, _ in cols]
    print("# %-*s  %s" % (width, "method", "  ".join(
        label.ljust(w) for (label, _), w in zip(cols, cw))))
    for m, cap in METHODS:
        cells = [short.get(res.get(m, "?"), res.get(m, "?")) for _, res in cols]
        text = "  ".join(c.ljust(w) for c, w in zip(cells, cw))
        print(("# %-*s  %s" % (width, m, text)).rstrip())
    print("# yes: allowed; -: io.roster.PermissionDenied;"
          " (1) allowed, then refused by state (InvalidState: the registry is"
          " unsealed);")
    print("# (2) public, a wrong token is refused (AuthenticationRequired);")
    print("# (3) allowed, a wrong passphrase is refused (BadPassphrase);"
          " (4) allowed, called without \"more\" (ExpectedMore);"
          " (5) allowed, then NotFound (no such export request)")
    return 0


def find(clients, cid):
    for c in clients:
        if c.get("id") == cid:
            return c
    return None


def keys(args):
    token = pop_token(args)
    method, cid, query = args
    c, _ = connect(token)
    if method == "Get":
        r = c.call("io.roster.Clients.Get", {"id": cid})
        obj = r["parameters"]["client"] if outcome(r) == "ok" else None
    elif method == "Search":
        r = c.call("io.roster.Clients.Search", {"query": query, "limit": 100})
        obj = find(r["parameters"]["clients"], cid) if outcome(r) == "ok" else None
    else:
        # One page (100) is all List gives without an approved export; the
        # tests that use this keep fewer clients than that.
        r = c.call("io.roster.Clients.List", {"limit": 100})
        obj = find(r["parameters"]["clients"], cid) if outcome(r) == "ok" else None
    c.close()
    if outcome(r) != "ok":
        print(outcome(r))
    elif obj is None:
        print("missing")
    else:
        print(",".join(sorted(obj)))
    return 0


def call(args):
    token = pop_token(args)
    method = args[0]
    p = json.loads(args[1]) if len(args) > 1 else {}
    c, auth = connect(token)
    got = outcome(c.call(method, p))
    c.close()
    print(got if auth is None else "%s %s" % (auth, got))
    return 0


def session(args):
    token = pop_token(args)
    method, p = args[0], json.loads(args[1])
    c, auth = connect(token)
    if auth not in (None, "ok"):
        print("Authenticate: " + auth, file=sys.stderr)
    while True:
        print(outcome(c.call(method, p)), flush=True)
        if not sys.stdin.readline():
            break
    c.close()
    return 0


if __name__ == "__main__":
    if len(sys.argv) < 3:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    SOCK = sys.argv[1]
    cmd = {"matrix": matrix, "table": table, "keys": keys, "call": call,
           "session": session}.get(sys.argv[2])
    if cmd is None:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    sys.exit(cmd(sys.argv[3:]))
