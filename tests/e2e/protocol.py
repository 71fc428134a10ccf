#!/usr/bin/env python3
"""Protocol tests: framing, limits, envelope errors, introspection.

usage: protocol.py SOCKET SCHEMA_DIR     (the daemon must be unsealed)
Prints TAP-style lines; exits 1 if any check failed.
"""
import json
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from varlink import Conn  # noqa: E402

SOCK, SCHEMA = sys.argv[1], sys.argv[2]
results = []


def check(desc, cond, detail=""):
    results.append(bool(cond))
    n = len(results)
    print(("ok %d - %s" if cond else "not ok %d - %s") % (n, desc))
    if not cond and detail:
        print("#   " + str(detail)[:400])


def err(reply):
    return reply.get("error") if reply else None


# --- framing ---------------------------------------------------------------
c = Conn(SOCK)
r = c.call("io.roster.Admin.Status")
check("Status without a parameters member is answered",
      r and r["parameters"]["state"] == "unsealed", r)

frame = json.dumps({"method": "io.roster.Admin.Status"}).encode() + b"\0"
for b in frame:
    c.send_raw(bytes([b]))
r = c.recv()
check("a frame sent one byte at a time is answered", r and "parameters" in r, r)

c.send_raw(frame + json.dumps({"method": "org.varlink.service.GetInfo"}).encode() + b"\0")
r1, r2 = c.recv(), c.recv()
check("two frames in one write get two replies, in order",
      r1 and "state" in r1["parameters"] and r2 and "interfaces" in r2["parameters"], (r1, r2))

c.send_raw(frame * 100)
replies = [c.recv() for _ in range(100)]
check("100 pipelined calls get 100 replies",
      all(x and x["parameters"]["state"] == "unsealed" for x in replies))

c.send("io.roster.Admin.Status", oneway=True)
c.send("org.varlink.service.GetInfo")
r = c.recv()
check("a oneway call gets no reply (the next reply is the next call's)",
      r and "interfaces" in r.get("parameters", {}), r)
c.close()


def protocol_error(raw, desc):
    c = Conn(SOCK)
    c.send_raw(raw)
    r = c.recv()
    check(desc + ": io.roster.ProtocolError", err(r) == "io.roster.ProtocolError", r)
    check(desc + ": connection closed after the error", c.closed())
    c.close()


protocol_error(b"x" * (70 * 1024), "70 KiB without a NUL")
protocol_error(json.dumps({"method": "io.roster.Admin.Status",
                           "parameters": {"pad": "y" * (65 * 1024)}}).encode() + b"\0",
               "a 65 KiB frame")
protocol_error(b"{not json}\0", "malformed JSON")
protocol_error(b"[1,2,3]\0", "a JSON array")
protocol_error(b"\"str\"\0", "a JSON string")
protocol_error(b"{}\0", "a message without method")
protocol_error(b'{"method":5}\0', "a non-string method")
protocol_error(b'{"method":"io.roster.Admin.Status","parameters":[]}\0', "array parameters")
protocol_error(b'{"method":"io.roster.Admin.Status","bogus":1}\0', "an unknown envelope member")
protocol_error(b'{"method":"io.roster.Admin.Status","method":"x"}\0', "a duplicate key")
protocol_error(b'{"method":"io.roster.Admin.Status","oneway":true,"more":true}\0',
               "oneway together with more")
deep = {"method": "io.roster.Admin.Status", "parameters": {}}
inner = deep["parameters"]
for _ in range(16):
    inner["a"] = {}
    inner = inner["a"]
protocol_error(json.dumps(deep).encode() + b"\0", "nesting 18 deep")

c = Conn(SOCK)
p = {}
inner = p
for _ in range(13):
    inner["a"] = {}
    inner = inner["a"]
r = c.call("io.roster.Admin.Status", p)
check("nesting within the limit reaches the method (InvalidParameter 'a')",
      err(r) == "org.varlink.service.InvalidParameter" and r["parameters"]["parameter"] == "a", r)
r = c.call("io.roster.Admin.Status", {"note": "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\"\\\""})
check("brackets inside strings do not count as nesting",
      err(r) == "org.varlink.service.InvalidParameter", r)

# --- method resolution -------------------------------------------------------
r = c.call("io.roster.Nope.Get")
check("unknown interface: org.varlink.service.InterfaceNotFound",
      err(r) == "org.varlink.service.InterfaceNotFound" and r["parameters"]["interface"] == "io.roster.Nope", r)
r = c.call("io.roster.Clients.Steal")
check("unknown method: org.varlink.service.MethodNotFound",
      err(r) == "org.varlink.service.MethodNotFound" and r["parameters"]["method"] == "Steal", r)
r = c.call("nodots")
check("a method name without an interface: InterfaceNotFound",
      err(r) == "org.varlink.service.InterfaceNotFound", r)
r = c.call("io.roster.Clients.Get", {"id": "0" * 32, "extra": 1})
check("an unknown parameter: InvalidParameter names it",
      err(r) == "org.varlink.service.InvalidParameter" and r["parameters"]["parameter"] == "extra", r)
r = c.call("io.roster.Clients.Get", {"id": 7})
check("a parameter of the wrong type: InvalidParameter",
      err(r) == "org.varlink.service.InvalidParameter" and r["parameters"]["parameter"] == "id", r)
r = c.call("io.roster.Clients.Get", {})
check("a missing parameter: InvalidParameter",
      err(r) == "org.varlink.service.InvalidParameter" and r["parameters"]["parameter"] == "id", r)
r = c.call("io.roster.Clients.Get", {"id": "../../etc/passwd"})
check("a malformed id: InvalidParameter 'id'",
      err(r) == "org.varlink.service.InvalidParameter" and r["parameters"]["parameter"] == "id", r)
r = c.call("io.roster.Clients.Get", {"id": "0" * 32})
check("an unknown id: io.roster.NotFound with the id",
      err(r) == "io.roster.NotFound" and r["parameters"]["id"] == "0" * 32, r)
r = c.call("io.roster.Clients.Get", {"id": "0" * 32}, more=True)
check("'more' on a single-reply method gets one plain reply",
      err(r) == "io.roster.NotFound" and not r.get("continues"), r)

# --- introspection -----------------------------------------------------------
r = c.call("org.varlink.service.GetInfo")
ifaces = r["parameters"]["interfaces"] if r and "parameters" in r else []
files = sorted(f[:-len(".varlink")] for f in os.listdir(SCHEMA) if f.endswith(".varlink"))
check("GetInfo lists exactly the interfaces in schema/", sorted(ifaces) == files, (ifaces, files))
for name in files:
    r = c.call("org.varlink.service.GetInterfaceDescription", {"interface": name})
    with open(os.path.join(SCHEMA, name + ".varlink")) as f:
        text = f.read()
    check("GetInterfaceDescription(%s) is the schema file" % name,
          r and r.get("parameters", {}).get("description") == text)
r = c.call("org.varlink.service.GetInterfaceDescription", {"interface": "com.example.X"})
check("GetInterfaceDescription of an unknown interface: InterfaceNotFound",
      err(r) == "org.varlink.service.InterfaceNotFound", r)

# Every io.roster error the daemon can send is declared in io.roster.varlink.
with open(os.path.join(SCHEMA, "io.roster.varlink")) as f:
    declared = set("io.roster." + m for m in re.findall(r"^error (\w+)", f.read(), re.M))
seen = {"io.roster.NotFound", "io.roster.ProtocolError"}
check("the errors seen are declared in io.roster.varlink", seen <= declared, seen - declared)
c.close()

# --- many connections at once --------------------------------------------------
conns = [Conn(SOCK) for _ in range(50)]
for x in conns:
    x.send("io.roster.Admin.Status")
ok = all((x.recv() or {}).get("parameters", {}).get("state") == "unsealed" for x in conns)
for x in conns:
    x.close()
check("50 simultaneous connections are all answered", ok)

c = Conn(SOCK)
r = c.call("io.roster.Admin.Status")
check("the daemon still answers after all of the above", r and r["parameters"]["state"] == "unsealed", r)
c.close()

failed = results.count(False)
print("# %d passed, %d failed" % (len(results) - failed, failed))
sys.exit(1 if failed else 0)
