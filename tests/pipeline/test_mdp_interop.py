"""7/MDP as the reference peers speak it, against our broker at its default heartbeat
(2.5 s, liveness 3, the reference implementations' values):

- a Python worker written like the reference mdwrkapi (heartbeats every 2.5 s while it
  waits, none while it serves) serves a 4 s request, stays registered through 60 s of
  idleness, and serves again; `mmi.service` answers 200 every 0.5 s all along, and the
  worker never sees DISCONNECT nor reconnects;
- a Python worker that holds a request past the broker's --request-timeout-ms, silent
  all the while: it is not expired by silence (3 heartbeats), the client gets 504 at the
  deadline, and its late reply is counted as dropped;
- our rng and hasher behind that broker serve for 60 s without a reconnect;
- kill -9 of an rng under load: the request it held is requeued and served by the other
  rng within a few seconds (the time is printed).

Plain TCP (--insecure), so the Python peers need no keys."""
import signal
import threading
import time

import zmq

from dcrig import Checks, Rig, wait_for

HEARTBEAT = 2.5        # seconds, the reference mdwrkapi/mdbroker value
LIVENESS = 3
REQUEST_TIMEOUT_MS = 10000
IDLE_GAP = 60.0       # at least the reference's 30 s between calls, for 60 s as asked
LOAD_WINDOW = 60.0
ctx = zmq.Context.instance()
check = Checks()



class RefWorker(threading.Thread):
    """A 7/MDP worker as mdwrkapi writes it: a DEALER that sends READY, then in its
    receive loop a HEARTBEAT whenever one is due, and reconnects when the broker has been
    silent for LIVENESS intervals or says DISCONNECT. A request is served by
    `handler(body)` in the same thread, so no heartbeat goes out while it runs; None
    from the handler means no reply."""

    def __init__(self, endpoint, service, handler):
        super().__init__(daemon=True)
        self.endpoint, self.service, self.handler = endpoint, service, handler
        self.stop = threading.Event()
        self.disconnects = self.reconnects = self.served = 0
        self.sock = None

    def connect(self):
        if self.sock:
            self.sock.close()
        self.sock = ctx.socket(zmq.DEALER)
        self.sock.linger = 0
        self.sock.connect(self.endpoint)
        self.sock.send_multipart([b"", b"MDPW01", b"\x01", self.service])
        self.liveness = LIVENESS
        self.heartbeat_at = time.monotonic() + HEARTBEAT

    def run(self):
        self.connect()
        while not self.stop.is_set():
            if self.sock.poll(int(HEARTBEAT * 1000)):
                msg = self.sock.recv_multipart()
                self.liveness = LIVENESS
                command = msg[2]
                if command == b"\x02":  # REQUEST: client address, empty, body
                    reply = self.handler(msg[5:])
                    if reply is not None:
                        self.sock.send_multipart([b"", b"MDPW01", b"\x03", msg[3], b""] + reply)
                        self.served += 1
                elif command == b"\x05":  # DISCONNECT
                    self.disconnects += 1
                    self.reconnects += 1
                    self.connect()
            else:
                self.liveness -= 1
                if self.liveness == 0:
                    self.reconnects += 1
                    self.connect()
            if time.monotonic() > self.heartbeat_at:
                self.sock.send_multipart([b"", b"MDPW01", b"\x04"])
                self.heartbeat_at = time.monotonic() + HEARTBEAT
        self.sock.close()


def call(endpoint, service, *body, timeout=20.0):
    """A 7/MDP client as anyone would write it: a REQ socket. Returns (reply body, s)."""
    req = ctx.socket(zmq.REQ)
    req.linger = 0
    req.rcvtimeo = int(timeout * 1000)
    req.connect(endpoint)
    t0 = time.monotonic()
    req.send_multipart([b"MDPC01", service] + list(body))
    reply = req.recv_multipart()
    took = time.monotonic() - t0
    req.close()
    assert reply[:2] == [b"MDPC01", service], reply
    return reply[2:], took


class MmiPoller(threading.Thread):
    """Asks mmi.service for `service` every 0.5 s; counts the answers."""

    def __init__(self, endpoint, service):
        super().__init__(daemon=True)
        self.endpoint, self.service = endpoint, service
        self.stop = threading.Event()
        self.answers = {}

    def run(self):
        while not self.stop.wait(0.5):
            body, _ = call(self.endpoint, b"mmi.service", self.service, timeout=5)
            self.answers[body[0]] = self.answers.get(body[0], 0) + 1


class Load(threading.Thread):
    """A miner's loop without the miner: rng then hasher, again and again, each call
    timed (start, end) so a stall shows."""

    def __init__(self, endpoint):
        super().__init__(daemon=True)
        self.endpoint = endpoint
        self.stop = threading.Event()
        self.rng_calls = []  # (sent, answered) in monotonic seconds
        self.failures = []

    def run(self):
        while not self.stop.is_set():
            t0 = time.monotonic()
            body, _ = call(self.endpoint, b"rng", b"32", timeout=15)
            self.rng_calls.append((t0, time.monotonic()))
            if body[0] != b"200" or len(body[1]) != 32:
                self.failures.append(body)
                continue
            body, _ = call(self.endpoint, b"hasher", body[1], timeout=15)
            if body[0] != b"200":
                self.failures.append(body)


def echo(body):
    time.sleep(float(body[0]))  # serving: no heartbeat goes out meanwhile
    return [b"200", body[0]]


def mute(body):
    time.sleep(REQUEST_TIMEOUT_MS / 1000 + 1.0)  # past the deadline, silent
    return [b"200", b"too late"]


with Rig(secure=False) as rig:
    rig.start_redis()
    rig.start_broker("--request-timeout-ms", str(REQUEST_TIMEOUT_MS))  # default heartbeat
    broker = "tcp://127.0.0.1:%d" % rig.ports["broker"]
    wait_for("broker ready", lambda: rig.http("broker", "/readyz")[0] == 200)
    check("heartbeat 2500 ms" in rig.log("broker"), "the broker's default heartbeat is 2.5 s")
    rig.start_service("rng", "rngA", 200)   # default heartbeat
    rig.start_service("rng", "rngB", 200)
    rig.start_service("hasher", "hasher", 100)
    worker = RefWorker(broker, b"echo", echo)
    worker.start()
    wait_for("echo registered", lambda: call(broker, b"mmi.service", b"echo")[0] == [b"200"])
    wait_for("2 rng and 1 hasher registered",
             lambda: (lambda s: s.get("rng", 0) >= 2 and s.get("hasher", 0) >= 20)(
                 {k: rig.stats(k).get("slots", 0) for k in ("rng", "hasher")}))
    poller = MmiPoller(broker, b"echo")
    poller.start()
    t_start = time.monotonic()

    # a 4 s request to a worker that sends nothing while it serves
    body, took = call(broker, b"echo", b"4")
    print(f"echo 4 s request: {body} in {took:.2f} s")
    check(body == [b"200", b"4"] and took >= 4.0, f"4 s request served: {body} {took}")

    # --- the idle gap: other checks meanwhile, the echo worker only heartbeats ----------
    t_idle = time.monotonic()
    muted = RefWorker(broker, b"mute", mute)
    muted.start()
    wait_for("mute registered", lambda: call(broker, b"mmi.service", b"mute")[0] == [b"200"])
    late_before = rig.metric("broker", "dc_broker_late_replies_total")
    result = {}
    threading.Thread(target=lambda: result.update(r=call(broker, b"mute", b"x", timeout=30)),
                     daemon=True).start()

    loads = [Load(broker) for _ in range(6)]
    for ld in loads:
        ld.start()
    load_t0 = time.monotonic()
    wait_for("the mute request answered", lambda: result.get("r"),
             timeout=REQUEST_TIMEOUT_MS / 1000 + 10)
    body, took = result["r"]
    print(f"request to a silent worker: {body[0]} after {took:.2f} s: {body[1].decode()}")
    check(body[0] == b"504" and b"request timeout" in body[1], f"504 at the deadline: {body}")
    check(REQUEST_TIMEOUT_MS / 1000 - 0.2 <= took < REQUEST_TIMEOUT_MS / 1000 + 2,
          f"answered at the deadline, not at 3 heartbeats: {took:.2f} s")
    wait_for("the late reply counted",
             lambda: rig.metric("broker", "dc_broker_late_replies_total") >= late_before + 1,
             timeout=10)
    check(muted.served == 1, "the silent worker did send its late reply")
    check(rig.metric("broker", "dc_broker_request_timeouts_total") >= 1, "timeout counted")

    # our rng and hasher behind the 2.5 s broker, under load for LOAD_WINDOW s
    time.sleep(max(0.0, LOAD_WINDOW - (time.monotonic() - load_t0)))  # a window of service, not a sync
    served = sum(len(ld.rng_calls) for ld in loads)
    print(f"rng calls in {time.monotonic() - load_t0:.1f} s under load: {served}")
    check(served >= 100, f"rng served under load: {served}")
    for name in ("rngA", "rngB", "hasher"):
        log = rig.log(name)
        check("silent for" not in log and "to reconnect" not in log,
              f"{name} never reconnected:\n{log}")
        check(rig.metric(name, "dc_service_reconnects_total") == 0, f"{name} reconnects")

    # kill -9 of a busy rng: its request goes to the other one
    requeued_before = rig.stats("broker").get("requeued", 0)
    t_kill = time.monotonic()
    rig.stop("rngA", signal.SIGKILL)

    def in_flight_at_kill():
        """The rng calls in flight at the kill, once all of them are answered: each
        client's calls are sequential, so when every client has finished a call sent
        after the kill, the ones before it are done."""
        if not all(any(c[0] > t_kill for c in list(ld.rng_calls)) for ld in loads):
            return None
        return [c for ld in loads for c in list(ld.rng_calls) if c[0] <= t_kill < c[1]]

    done = wait_for("every rng call in flight at the kill answered", in_flight_at_kill,
                    timeout=15)
    worst = max(end - t_kill for _, end in done)
    print(f"kill -9 of a busy rng: every call in flight answered within {worst:.2f} s")
    wait_for("the dead rng's request requeued",
             lambda: rig.stats("broker").get("requeued", 0) >= requeued_before + 1, timeout=5)
    check(worst < 3.0, f"requeued and served within a few seconds: {worst:.2f} s")
    check(rig.metric("broker", "dc_broker_lost_slots_total") >= 1, "found by its closed TCP")
    for ld in loads:
        ld.stop.set()
    for ld in loads:
        ld.join(20)
    check(not any(ld.failures for ld in loads), [ld.failures for ld in loads])

    # the rest of the idle gap, then the echo worker serves again
    time.sleep(max(0.0, IDLE_GAP - (time.monotonic() - t_idle)))  # the idleness under test
    body, took = call(broker, b"echo", b"4")
    check(body == [b"200", b"4"], f"4 s request after {IDLE_GAP:.0f} s idle: {body}")
    body, _ = call(broker, b"echo", b"0")
    check(body == [b"200", b"0"], f"a quick request: {body}")
    poller.stop.set()
    poller.join(10)
    worker.stop.set()
    worker.join(10)
    muted.stop.set()
    span = time.monotonic() - t_start
    print(f"mmi.service echo over {span:.0f} s: {poller.answers}")
    check(poller.answers.get(b"200", 0) >= span / 0.5 * 0.6, f"polled often: {poller.answers}")
    check(set(poller.answers) == {b"200"}, f"never 404: {poller.answers}")
    check(worker.disconnects == 0 and worker.reconnects == 0,
          f"echo worker: {worker.disconnects} DISCONNECT, {worker.reconnects} reconnects")
    check(worker.served == 3, f"echo served {worker.served}")
    check(rig.metric("broker", "dc_broker_expired_slots_total") == 0,
          "nobody expired for silence")
    echo_lines = [ln for ln in rig.log("broker").splitlines() if "echo instance" in ln]
    check(len(echo_lines) == 1 and "joined" in echo_lines[0], f"echo joined once: {echo_lines}")
print(f"{check.passed} passed, 0 failed")
