#!/usr/bin/env python3
"""Load driver and checker for the crash-safety test (crash.sh).

usage: crash.py run SOCKET LEDGER ROUND WORKERS [--checkpoints]
       crash.py verify SOCKET LEDGER EXPORT

run: WORKERS threads, each on its own connection, create, update and read
clients as fast as the daemon answers until it goes away (crash.sh kills
it with SIGKILL), and append to LEDGER one JSON line per write: what was
sent, and whether it was acknowledged (a reply with id/version). With
--checkpoints one more thread calls Audit.Checkpoint in a loop, so the kill
often lands while a checkpoint is in flight; the run prints whether one
was.

Every write keeps one invariant a half-applied write would break: tier
and notes both say "v<version>" (Create sets "v1", each Update the next).

verify: after restart and unseal, checks the registry (EXPORT: every
client, as "rosterctl export run" writes them) against every ledger line
so far: every acknowledged create exists with the fields sent, every
acknowledged update is there (version at least the one acknowledged),
every record is whole (its invariant holds and its fields are those of a
create that was sent, acknowledged or not), no create was applied twice,
the audit chain verifies with at least the acknowledged checkpoints, and
acknowledged writes have their audit records. Prints "ok"/"not ok" lines
(TAP, numbered from 1, for crash.sh to count) and exits 1 on a failure.
"""
import json
import os
import random
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from varlink import Conn  # noqa: E402

KINDS = ["police", "law_enforcement", "government", "bank", "financial", "enterprise", "other"]
COUNTRIES = ["DE", "FR", "NL", "US", "JP", "BR"]


class Ledger:
    """Append-only JSON lines, flushed at once: the driver outlives the daemon."""

    def __init__(self, path):
        self.f = open(path, "a", encoding="utf-8")
        self.lock = threading.Lock()

    def add(self, **entry):
        with self.lock:
            self.f.write(json.dumps(entry, sort_keys=True) + "\n")
            self.f.flush()


class Gone(Exception):
    """The daemon closed the connection or died."""


def call(conn, method, params=None):
    try:
        reply = conn.call(method, params)
    except OSError as e:
        raise Gone() from e
    if reply is None:
        raise Gone()
    return reply


def call_or_note(conn, ledger, entry, method, params):
    """A write: when the daemon dies before replying, it is in the ledger as
    unacknowledged (it may or may not have been committed)."""
    try:
        return call(conn, method, params)
    except Gone:
        ledger.add(acked=False, error="no reply", **entry)
        raise


def worker(sock, ledger, rnd, wid, mine, stop):
    rng = random.Random(f"{rnd}/{wid}")
    try:
        conn = Conn(sock, timeout=30.0)
    except OSError:
        return
    n = 0
    try:
        while not stop.is_set():
            n += 1
            op = rng.random()
            if op < 0.45 or not mine:
                name = f"crash r{rnd} w{wid} n{n}"
                fields = {"name": name, "kind": rng.choice(KINDS),
                          "country": rng.choice(COUNTRIES),
                          "contact_email": f"w{wid}.n{n}@crash.example",
                          "tier": "v1", "notes": "v1"}
                entry = {"t": "create", "name": name, "fields": fields}
                reply = call_or_note(conn, ledger, entry, "io.roster.Clients.Create",
                                     {"client": fields})
                p = reply.get("parameters") or {}
                if "error" not in reply and "id" in p and p.get("version") == 1:
                    entry["id"] = p["id"]
                    mine[p["id"]] = 1
                    ledger.add(acked=True, **entry)
                else:
                    ledger.add(acked=False, error=reply.get("error"), **entry)
            elif op < 0.75:
                cid = rng.choice(list(mine))
                reply = call(conn, "io.roster.Clients.Get", {"id": cid})
                got = (reply.get("parameters") or {}).get("client") or {}
                if "error" in reply or got.get("version", 0) < mine[cid]:
                    # Read-your-writes on a live daemon: a failure here is a bug.
                    ledger.add(t="read", id=cid, acked=False, want=mine[cid],
                               got=got.get("version"), error=reply.get("error"))
                    continue
                v = got["version"]
                mine[cid] = v
                tag = f"v{v + 1}"
                entry = {"t": "update", "id": cid, "version": v + 1}
                reply = call_or_note(conn, ledger, entry, "io.roster.Clients.Update",
                                     {"id": cid, "version": v, "changes": {"tier": tag, "notes": tag}})
                p = reply.get("parameters") or {}
                if "error" not in reply and p.get("version") == v + 1:
                    mine[cid] = v + 1
                    ledger.add(acked=True, **entry)
                else:
                    ledger.add(acked=False, error=reply.get("error"), **entry)
            else:
                cid = rng.choice(list(mine))
                reply = call(conn, "io.roster.Clients.Get", {"id": cid})
                got = (reply.get("parameters") or {}).get("client") or {}
                if "error" in reply or got.get("version", 0) < mine[cid]:
                    ledger.add(t="read", id=cid, acked=False, want=mine[cid],
                               got=got.get("version"), error=reply.get("error"))
    except Gone:
        pass
    finally:
        conn.close()


def checkpointer(sock, ledger, stop, state):
    try:
        conn = Conn(sock, timeout=30.0)
    except OSError:
        return
    try:
        while not stop.is_set():
            state["in_flight"] = True
            reply = call(conn, "io.roster.Audit.Checkpoint", {})
            state["in_flight"] = False
            ledger.add(t="checkpoint", acked="error" not in reply, error=reply.get("error"))
    except Gone:
        pass
    finally:
        conn.close()


def run(sock, path, rnd, workers, checkpoints):
    ledger = Ledger(path)
    stop = threading.Event()
    # Clients from earlier rounds (checked whole by verify) are updated too:
    # those of List's first page, all it gives without a second admin.
    known = {}
    try:
        conn = Conn(sock)
        p = conn.call("io.roster.Clients.List", {"limit": 100})["parameters"]
        for c in p["clients"]:
            known[c["id"]] = c["version"]
        conn.close()
    except (OSError, KeyError, TypeError):
        pass
    ids = list(known)
    threads = []
    for w in range(workers):
        mine = {i: known[i] for i in ids[w::workers]}
        threads.append(threading.Thread(target=worker, args=(sock, ledger, rnd, w, mine, stop)))
    state = {"in_flight": False}
    if checkpoints:
        threads.append(threading.Thread(target=checkpointer, args=(sock, ledger, stop, state)))
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    stop.set()
    if checkpoints:
        print("checkpoint in flight at the kill" if state["in_flight"]
              else "no checkpoint in flight at the kill")


class Checker:
    def __init__(self):
        self.n = 0
        self.failed = 0

    def check(self, cond, desc, detail=""):
        self.n += 1
        if cond:
            print(f"ok {self.n} - {desc}")
        else:
            self.failed += 1
            print(f"not ok {self.n} - {desc}")
            if detail:
                print(f"#   {detail}")


def verify(sock, path, export_path):
    entries = [json.loads(line) for line in open(path, encoding="utf-8") if line.strip()]
    ck = Checker()
    conn = Conn(sock)
    # Every client, from an export of the whole registry (JSON lines).
    clients = {}
    for line in open(export_path, encoding="utf-8"):
        if line.strip():
            c = json.loads(line)
            clients[c["id"]] = c

    creates = [e for e in entries if e["t"] == "create"]
    sent = {e["name"]: e["fields"] for e in creates}
    acked_creates = [e for e in creates if e["acked"]]
    acked_updates = [e for e in entries if e["t"] == "update" and e["acked"]]
    bad_reads = [e for e in entries if e["t"] == "read"]
    n_ckpt = sum(1 for e in entries if e["t"] == "checkpoint" and e["acked"])

    def same_fields(c, fields):
        return all(c.get(k) == v for k, v in fields.items() if k not in ("tier", "notes"))

    lost = [e["name"] for e in acked_creates
            if e["id"] not in clients or not same_fields(clients[e["id"]], e["fields"])]
    ck.check(not lost, f"all {len(acked_creates)} acknowledged creates are present with their fields",
             f"missing or different: {lost[:5]}")
    behind = [(e["id"], e["version"], clients.get(e["id"], {}).get("version"))
              for e in acked_updates if clients.get(e["id"], {}).get("version", 0) < e["version"]]
    ck.check(not behind, f"all {len(acked_updates)} acknowledged updates are present (version at least the acknowledged one)",
             f"behind: {behind[:5]}")
    torn = [c["id"] for c in clients.values()
            if not (c.get("tier") == c.get("notes") == f"v{c.get('version')}")]
    ck.check(not torn, f"all {len(clients)} records are whole (tier and notes match the version)",
             f"torn: {torn[:5]}")
    foreign = [c["id"] for c in clients.values()
               if c.get("name") not in sent or not same_fields(c, sent[c["name"]])]
    ck.check(not foreign, "every record is exactly a create that was sent (unacknowledged ones whole or absent)",
             f"unexpected: {foreign[:5]}")
    names = [c.get("name") for c in clients.values()]
    ck.check(len(names) == len(set(names)), "no create was applied twice")
    unacked_present = sum(1 for e in creates if not e["acked"] and e["name"] in names)
    print(f"# {len(clients)} clients; {len(creates) - len(acked_creates)} unacknowledged creates, "
          f"{unacked_present} of them committed before the kill")
    ck.check(not bad_reads, "every read during the load saw its own acknowledged writes",
             f"{bad_reads[:3]}")

    v = conn.call("io.roster.Audit.Verify", {})
    vp = v.get("parameters") or {}
    ck.check(vp.get("ok") is True, "Audit.Verify: the chain and its checkpoints verify", json.dumps(v))
    ck.check(vp.get("checkpoints", 0) >= n_ckpt,
             f"the {n_ckpt} acknowledged checkpoints are all there ({vp.get('checkpoints')} in the chain)")
    # The audit record is committed before the reply: sample the acknowledged creates.
    sample = random.Random(len(entries)).sample(acked_creates, min(10, len(acked_creates)))
    unaudited = []
    for e in sample:
        r = conn.call("io.roster.Audit.Query", {"client": e["id"], "method": "io.roster.Clients.Create"})
        recs = (r.get("parameters") or {}).get("records", [])
        if not any(rec.get("result") == "ok" and e["id"] in rec.get("ids", []) for rec in recs):
            unaudited.append(e["id"])
    ck.check(not unaudited, f"acknowledged creates have their audit record ({len(sample)} sampled)",
             f"no record for {unaudited}")
    conn.close()
    print(f"# {ck.n - ck.failed} passed, {ck.failed} failed")
    return 1 if ck.failed else 0


def main():
    if len(sys.argv) >= 6 and sys.argv[1] == "run":
        run(sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]),
            "--checkpoints" in sys.argv[6:])
        return 0
    if len(sys.argv) == 5 and sys.argv[1] == "verify":
        return verify(sys.argv[2], sys.argv[3], sys.argv[4])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
