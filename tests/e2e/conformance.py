#!/usr/bin/env python3
"""Varlink conformance checks that protocol.py does not already make.

usage: conformance.py SOCKET     (the daemon must be unsealed; run as root)

The Varlink specification (varlink.org, "Method Call" and "Service"): a
"oneway" call is carried out but never answered, whatever its outcome, so the
next reply belongs to the next call; "more" asks for several replies, each but
the last marked "continues"; a method that needs "more" refuses a call
without it with org.varlink.service.ExpectedMore; every error reply names an
error declared by an interface the service describes and carries a
"parameters" object. Prints TAP-style lines; exits 1 if any check failed.
"""
import json
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from varlink import Conn  # noqa: E402

SOCK = sys.argv[1]
results = []
errors_seen = []


def check(desc, cond, detail=""):
    results.append(bool(cond))
    print(("ok %d - %s" if cond else "not ok %d - %s") % (len(results), desc))
    if not cond and detail:
        print("#   " + str(detail)[:400])


def call(c, method, params=None, **flags):
    r = c.call(method, params, **flags)
    if r and "error" in r:
        errors_seen.append(r)
    return r


c = Conn(SOCK)

# --- optional envelope members are nullable (?object, ?bool) ----------------
c.send_raw(b'{"method":"org.varlink.service.GetInfo","parameters":null,'
           b'"oneway":null,"more":null,"upgrade":null}\0')
r = c.recv()
check("null parameters, oneway, more and upgrade mean absent (the Go binding sends "
      "\"parameters\":null)", r and "interfaces" in r.get("parameters", {}), r)
c.send_raw(b'{"method":"org.varlink.service.GetInfo","com.example":{"trace":"x"}}\0')
r = c.recv()
check("a vendor extension (an object named in reverse-domain notation) is ignored",
      r and "interfaces" in r.get("parameters", {}), r)
c.send_raw(b'{"method":"org.varlink.service.GetInfo","bogus":null}\0')
r = c.recv()
check("... but a null unknown member is still a ProtocolError",
      r and r.get("error") == "io.roster.ProtocolError" and c.closed(), r)
c.close()
c = Conn(SOCK)

# --- oneway: carried out, never answered -----------------------------------
name = "Oneway Conformance %s" % os.urandom(4).hex()
c.send("io.roster.Clients.Create", {"client": {"name": name, "kind": "other"}}, oneway=True)
c.send("io.roster.Nope.Get", oneway=True)
c.send("io.roster.Clients.Steal", oneway=True)
c.send("io.roster.Clients.Get", {"id": "0" * 32}, oneway=True)
c.send("io.roster.Audit.Tail", oneway=True)
r = call(c, "io.roster.Clients.Search", {"query": name})
check("oneway calls get no reply, failed ones included: the next reply is the next call's",
      r and "parameters" in r and "clients" in r["parameters"], r)
check("a oneway Create is carried out (Search finds the client)",
      r and [x["name"] for x in r["parameters"].get("clients", [])] == [name], r)

# --- more: every reply but the last continues -----------------------------
r = call(c, "io.roster.Audit.Tail")
check("Audit.Tail without more: org.varlink.service.ExpectedMore",
      r and r.get("error") == "org.varlink.service.ExpectedMore", r)
check("... with an empty parameters object, as the error declares none",
      r and r.get("parameters") == {}, r)
r = call(c, "org.varlink.service.GetInfo", more=True)
check("a single-reply method called with more answers once, without continues",
      r and "interfaces" in r.get("parameters", {}) and "continues" not in r, r)
r = call(c, "io.roster.Clients.Get", {"id": "0" * 32}, more=True)
check("... and so does its error", r and r.get("error") == "io.roster.NotFound"
      and "continues" not in r, r)
c.close()

t = Conn(SOCK)
t.send("io.roster.Audit.Tail", {"after": 0}, more=True)
replies = [t.recv() for _ in range(3)]
check("Audit.Tail with more: each reply continues and holds one record, in sequence",
      all(x and x.get("continues") is True and "record" in x.get("parameters", {})
          for x in replies)
      and [x["parameters"]["record"]["seq"] for x in replies] == [1, 2, 3], replies)
t.close()

# --- error replies ---------------------------------------------------------
c = Conn(SOCK)
call(c, "io.roster.Admin.Unseal", {"passphrase": "x"})          # InvalidState
call(c, "io.roster.Admin.RoleShow", {"name": "no-such-role"})   # NotFound
call(c, "io.roster.Clients.Get", {})                            # InvalidParameter
call(c, "org.varlink.service.GetInterfaceDescription", {"interface": "a.b"})
call(c, "io.roster.Nope.Get")
call(c, "io.roster.Clients.Steal")
declared = {}
for iface in call(c, "org.varlink.service.GetInfo")["parameters"]["interfaces"]:
    desc = call(c, "org.varlink.service.GetInterfaceDescription",
                {"interface": iface})["parameters"]["description"]
    declared.update({iface + "." + e: True for e in re.findall(r"^error (\w+)", desc, re.M)})
c.close()
names = sorted({r["error"] for r in errors_seen})
check("%d error replies seen (%s)" % (len(errors_seen), ", ".join(names)), len(names) >= 6)
check("every error reply has a string error and an object parameters",
      all(isinstance(r.get("error"), str) and isinstance(r.get("parameters"), dict)
          and set(r) <= {"error", "parameters"} for r in errors_seen),
      [r for r in errors_seen if not isinstance(r.get("parameters"), dict)])
check("every error name is declared by an interface the service describes",
      all(n in declared for n in names), [n for n in names if n not in declared])

failed = results.count(False)
print("# %d passed, %d failed" % (len(results) - failed, failed))
sys.exit(1 if failed else 0)
