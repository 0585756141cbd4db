#!/usr/bin/env python3
"""The load, the faults and the checks of `make ha-test` (scripts/ha-test.sh builds the hosts).

wait-cluster: waits until Patroni reports a leader and a streaming synchronous standby.
run: starts three workers (protocols/examples/worker.py, connected to both hubs) and a gateway
connected to both hubs that publishes at a steady rate, re-sending what is not answered; then, in
turn, kills a hub with SIGKILL, cuts the other hub off from the database, and kills the PostgreSQL
primary. After each fault it lets the work drain and checks, from both sides of the hubs: every
ACKed message stored exactly once, every task completed once or visibly pending, no delivery
confirmed done to two workers. It reports the adoption time of each adopted hub and the longest
window in which the gateway got no ACK although messages were waiting (the unavailable window),
and writes them to RUN/ha-report.json.
"""
import argparse
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.request

import zmq

VERSION = b"SWB/1"


def cluster_state(nodes):
    for node in nodes:
        try:
            with urllib.request.urlopen(f"http://{node}:8008/cluster", timeout=1) as answer:
                return json.load(answer)
        except OSError:
            continue
    return None


def leader(nodes):
    state = cluster_state(nodes) or {}
    for member in state.get("members", []):
        if member.get("role") == "leader" and member.get("state") == "running":
            return member
    return None


def cluster_ready(nodes):
    state = cluster_state(nodes) or {}
    roles = {m.get("role"): m for m in state.get("members", [])}
    sync = roles.get("sync_standby")
    return "leader" in roles and sync is not None and sync.get("state") in ("streaming", "running")


def wait_cluster(args):
    nodes = args.nodes.split(",")
    deadline = time.time() + args.timeout
    while time.time() < deadline:
        if cluster_ready(nodes):
            print(f"cluster ready: leader {leader(nodes)['name']}")
            return 0
        time.sleep(1)
    print(f"the cluster was not ready within {args.timeout} s: {cluster_state(nodes)}", file=sys.stderr)
    return 1


class Gateway(threading.Thread):
    """Publishes `rate` messages a second to the hubs, re-sending any unanswered after 2 s."""

    def __init__(self, endpoints, rate):
        super().__init__(daemon=True)
        self.endpoints, self.rate = endpoints, rate
        self.acked = {}          # message id -> interaction id
        self.pending = {}        # message id -> (frames, resend at)
        self.nacked = {}         # NACK code -> count
        self.last_ack = time.time()
        self.longest_gap = 0.0   # the longest time without an ACK while messages waited
        self.gaps = []
        self.sending = True
        self.stopped = False
        self.lock = threading.Lock()
        self.sent = 0

    def frames(self, message_id, index):
        header = {"message_id": message_id, "channel": "chat", "occurred_at": int(time.time() * 1000),
                  "hints": {"external_id": f"HA-{index % 97}"}, "language": "en", "process": "support"}
        return [VERSION, b"PUBLISH", json.dumps(header).encode(), f"help {index}".encode()]

    def gap_since(self, now):
        with self.lock:
            return now - self.last_ack if self.pending else 0.0

    def run(self):
        context = zmq.Context()
        socket = context.socket(zmq.DEALER)
        socket.setsockopt(zmq.ROUTING_ID, b"ha-gw")
        socket.setsockopt(zmq.LINGER, 0)
        for endpoint in self.endpoints:
            socket.connect(endpoint)
        run = int(time.time())
        next_send = time.time()
        while not self.stopped:
            now = time.time()
            if self.sending and now >= next_send:
                message_id = f"ha-{run}-{self.sent}"
                with self.lock:
                    self.pending[message_id] = (self.frames(message_id, self.sent), now + 2.0)
                socket.send_multipart(self.pending[message_id][0])
                self.sent += 1
                next_send += 1.0 / self.rate
            with self.lock:
                for message_id, (frames, resend_at) in list(self.pending.items()):
                    if resend_at <= now:
                        socket.send_multipart(frames)
                        self.pending[message_id] = (frames, now + 2.0)
            if socket.poll(5):
                message = socket.recv_multipart()
                header = json.loads(message[2] or b"{}")
                message_id = header.get("message_id")
                with self.lock:
                    if message[1] == b"ACK" and message_id in self.pending:
                        del self.pending[message_id]
                        self.acked[message_id] = header["interaction_id"]
                        gap = time.time() - self.last_ack
                        self.longest_gap = max(self.longest_gap, gap)
                        self.last_ack = time.time()
                    elif message[1] == b"NACK" and message_id in self.pending:
                        code = f"{header.get('code')}/{header.get('detail')}"
                        self.nacked[code] = self.nacked.get(code, 0) + 1
                        frames, _ = self.pending[message_id]
                        self.pending[message_id] = (frames, time.time() + header.get("retry_after_ms", 500) / 1000)
            with self.lock:
                if not self.pending:
                    self.last_ack = time.time()
        socket.close()

    def reset_gap(self):
        with self.lock:
            self.longest_gap = 0.0
            self.last_ack = time.time()


def psql(database, sql):
    out = subprocess.run(["psql", database, "-qAtc", sql], capture_output=True, text=True, timeout=60)
    if out.returncode != 0:
        raise RuntimeError(f"psql: {out.stderr.strip()}")
    return out.stdout.strip()


def worker_ledger(paths):
    """(delivery -> workers that got a TASK for it, delivery -> workers that saw it confirmed done)."""
    handed, confirmed = {}, {}
    for path in paths:
        worker = os.path.basename(path)
        with open(path, encoding="utf-8", errors="replace") as log:
            for line in log:
                m = re.match(r"TASK (\d+) attempt (\d+)", line)
                if m:
                    handed.setdefault(int(m.group(1)), []).append((worker, int(m.group(2))))
                m = re.match(r"CONFIRM (\d+): done(?! \(repeat)", line)
                if m:
                    confirmed.setdefault(int(m.group(1)), []).append(worker)
    return handed, confirmed


def check(name, database, gateway, worker_logs, failures):
    """Every ACKed message stored once; every task done once or visibly pending; none confirmed twice."""
    with gateway.lock:
        acked = dict(gateway.acked)
    stored = {}
    for row in psql(database, "SELECT message_id, count(*), min(id) FROM interactions WHERE gateway = 'ha-gw' GROUP BY 1").splitlines():
        message_id, count, first = row.split("|")
        stored[message_id] = (int(count), int(first))
    lost = [m for m in acked if m not in stored]
    twice = [m for m, (count, _) in stored.items() if count > 1]
    changed = [m for m, i in acked.items() if m in stored and stored[m][1] != i]
    done_twice = psql(database, "SELECT count(*) FROM (SELECT delivery_id FROM delivery_events WHERE kind = 'done' "
                                "GROUP BY 1 HAVING count(*) > 1) x")
    open_count = psql(database, "SELECT count(*) FROM deliveries WHERE state IN ('pending', 'offered', 'in_progress')")
    not_visible = psql(database, "SELECT count(*) FROM interactions i WHERE i.gateway = 'ha-gw' AND NOT EXISTS "
                                 "(SELECT 1 FROM deliveries d WHERE d.interaction_id = i.id)")
    handed, confirmed = worker_ledger(worker_logs)
    confirmed_twice = [d for d, ws in confirmed.items() if len(ws) > 1]
    result = {"acked": len(acked), "stored": len(stored), "lost": len(lost), "stored_twice": len(twice),
              "ack_changed": len(changed), "done_twice": int(done_twice), "still_open": int(open_count),
              "without_delivery": int(not_visible), "handed_to_two_workers": sum(1 for ws in handed.values() if len({w for w, _ in ws}) > 1),
              "confirmed_done_twice": len(confirmed_twice)}
    bad = {k: v for k, v in result.items() if k in ("lost", "stored_twice", "ack_changed", "done_twice", "without_delivery",
                                                    "confirmed_done_twice") and v}
    if bad:
        failures.append(f"{name}: {bad} (lost {lost[:5]}, twice {twice[:5]}, confirmed twice {confirmed_twice[:5]})")
    print(f"  {name}: " + ", ".join(f"{k} {v}" for k, v in result.items()))
    return result


def adoption_lines(run_dir, since):
    """'adopted hub' lines of the hub logs after `since` (Unix seconds), with the lease overrun."""
    found = []
    for h in (1, 2):
        path = os.path.join(run_dir, f"hub{h}.log")
        if not os.path.exists(path):
            continue
        with open(path, encoding="utf-8", errors="replace") as log:
            for line in log:
                if "adopted hub" not in line:
                    continue
                stamp = time.mktime(time.strptime(line[:19], "%Y-%m-%dT%H:%M:%S")) - time.timezone
                if stamp + 1 < since:
                    continue
                m = re.search(r"adopted hub '([^']+)' \(([^)]*)\)", line)
                over = re.search(r"having run out (\d+) ms before", line)
                found.append({"adopter": f"hub-{h}", "adopted": m.group(1) if m else "?", "how": m.group(2) if m else "",
                              "after_lease_ms": int(over.group(1)) if over else None, "at": stamp})
    return found


def pid(run_dir, name):
    with open(os.path.join(run_dir, f"{name}.pid")) as f:
        return int(f.read().strip())


def wait_drained(database, gateway, timeout):
    """Waits until every message is ACKed and every task done (or the time runs out)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        with gateway.lock:
            waiting = len(gateway.pending)
        try:
            open_count = int(psql(database, "SELECT count(*) FROM deliveries WHERE state IN ('pending', 'offered', 'in_progress')"))
        except RuntimeError:
            open_count = -1
        if waiting == 0 and open_count == 0:
            return True
        time.sleep(0.5)
    return False


def run(args):
    nodes = args.nodes.split(",")
    database = args.database
    calm = 4 if args.short else 10
    rate = 40 if args.short else 150
    worker_logs = []
    workers = []
    for i in range(3):
        path = os.path.join(args.run, f"worker{i}")
        worker_logs.append(path)
        workers.append(subprocess.Popen(
            [sys.executable, "-u", os.path.join(os.path.dirname(__file__), "..", "protocols", "examples", "worker.py"),
             "--endpoint", args.workers, "--worker-id", f"ha-w{i}", "--queues", "support,sales,marketing,field_service",
             "--capacity", "2"], stdout=open(path, "w"), stderr=subprocess.STDOUT))
    gateway = Gateway(args.gateways.split(","), rate)
    gateway.start()
    failures, report = [], {"scenarios": {}}
    try:
        time.sleep(calm)
        # 1. A hub killed with SIGKILL under load; restarted by its supervisor 3 s later.
        gateway.reset_gap()
        killed_at = time.time()
        os.kill(pid(args.run, "hub1"), signal.SIGKILL)
        print("hub-1 killed (SIGKILL)")
        time.sleep(calm)
        adopted = [a for a in adoption_lines(args.run, killed_at) if a["adopted"] == "hub-1"]
        report["scenarios"]["hub killed"] = {"adoptions": adopted, "longest_unavailable_s": round(gateway.longest_gap, 2),
                                             "checks": check("after the hub was killed", database, gateway, worker_logs, failures)}
        # 2. The other hub cut off from the database (its traffic to PostgreSQL dropped), then healed.
        gateway.reset_gap()
        cut_at = time.time()
        rules = ("table inet swbha {\n  chain out {\n    type filter hook output priority 0;\n    oifname \"lo\" accept\n"
                 "    ip daddr { " + ", ".join(nodes) + " } tcp dport 5432 drop\n  }\n}\n")
        subprocess.run(["ip", "netns", "exec", "swb-h2", "nft", "-f", "-"], input=rules, text=True, check=True)
        print("hub-2 cut off from the database")
        time.sleep(calm)
        subprocess.run(["ip", "netns", "exec", "swb-h2", "nft", "delete table inet swbha"], check=True)
        print("hub-2 reconnected")
        time.sleep(calm)
        adopted = [a for a in adoption_lines(args.run, cut_at) if a["adopted"] == "hub-2"]
        report["scenarios"]["hub cut off from the database"] = {
            "adoptions": adopted, "longest_unavailable_s": round(gateway.longest_gap, 2),
            "checks": check("after the hub was cut off and healed", database, gateway, worker_logs, failures)}
        # 3. The PostgreSQL primary killed (Patroni and postgres), under load; the cluster fails over.
        gateway.reset_gap()
        old = leader(nodes)
        index = nodes.index(old["host"]) + 1 if old else 1
        killed_at = time.time()
        os.kill(pid(args.run, f"patroni{index}"), signal.SIGKILL)
        with open(os.path.join(args.run, f"n{index}", "data", "postmaster.pid")) as f:
            os.kill(int(f.readline().strip()), signal.SIGKILL)
        print(f"PostgreSQL primary {old['name'] if old else '?'} killed")
        new = None
        deadline = time.time() + 60
        while time.time() < deadline:
            new = leader(nodes)
            if new and new["name"] != (old or {}).get("name"):
                break
            time.sleep(0.2)
        promoted_s = round(time.time() - killed_at, 2)
        time.sleep(calm)
        report["scenarios"]["PostgreSQL primary killed"] = {"old_primary": (old or {}).get("name"), "new_primary": (new or {}).get("name"),
                                                            "new_primary_after_s": promoted_s,
                                                            "longest_unavailable_s": round(gateway.longest_gap, 2),
                                                            "checks": check("after the primary was killed", database, gateway, worker_logs,
                                                                            failures)}
        gateway.sending = False
        drained = wait_drained(database, gateway, 120)
        report["checks"] = check("at the end, drained", database, gateway, worker_logs, failures)
        if not drained:
            failures.append("the work did not drain within 120 s after the faults")
        report["nacked"] = gateway.nacked
        print(f"NACKs while faults lasted (each re-sent): {gateway.nacked or 'none'}")
        refused = {c: n for c, n in gateway.nacked.items() if not c.startswith(("unavailable/", "overloaded/"))}
        if refused:
            failures.append(f"messages refused other than unavailable or overloaded: {refused}")
    finally:
        gateway.stopped = True
        for worker in workers:
            worker.terminate()
    for name, scenario in report["scenarios"].items():
        adoptions = "; ".join(f"{a['adopter']} adopted {a['adopted']} ({a['how']})" for a in scenario.get("adoptions", []))
        extra = f", new primary {scenario['new_primary']} after {scenario['new_primary_after_s']} s" if "new_primary" in scenario else ""
        print(f"{name}: longest unavailable {scenario['longest_unavailable_s']} s{extra}{'; ' + adoptions if adoptions else ''}")
        if name != "PostgreSQL primary killed" and not scenario.get("adoptions"):
            failures.append(f"{name}: no hub adopted its work")
        for a in scenario.get("adoptions", []):
            if a["after_lease_ms"] is not None and a["after_lease_ms"] > 2000:
                failures.append(f"{name}: adopted {a['after_lease_ms']} ms after the lease ran out (more than 2 s)")
    with open(os.path.join(args.run, "ha-report.json"), "w") as f:
        json.dump(report, f, indent=2)
    if failures:
        print("HA TEST FAILED:\n  " + "\n  ".join(failures), file=sys.stderr)
        return 1
    print("ha-test passed")
    return 0


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    w = sub.add_parser("wait-cluster")
    w.add_argument("--nodes", required=True)
    w.add_argument("--timeout", type=float, default=120)
    r = sub.add_parser("run")
    for name in ("--run", "--database", "--nodes", "--gateways", "--workers"):
        r.add_argument(name, required=True)
    r.add_argument("--short", action="store_true")
    args = parser.parse_args()
    return wait_cluster(args) if args.command == "wait-cluster" else run(args)


if __name__ == "__main__":
    sys.exit(main())
