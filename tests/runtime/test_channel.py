"""The report channel (runtime/_channel.py): frames, the secret, errors, the scheduler's lock, and real runs
whose reports take the socket, or Ray calls where the socket cannot be reached."""

import collections
import socket
import threading
import time

import pytest
from rb_helpers import events_of, experiment

from raybench.runtime._channel import ChannelClosed, ReportClient, ReportServer, connect, serialized


class Target:
    def __init__(self):
        self.calls = []

    def report_many(self, *args):
        self.calls.append(args)
        if args and args[0] == "boom":
            raise KeyError("the workload reported no 'val_accuracy'")
        return (0, False, args)


@pytest.fixture
def server():
    srv = ReportServer(Target(), "127.0.0.1")
    yield srv
    srv.close()


def test_a_call_comes_back_with_its_answer_and_a_large_checkpoint_survives(server):
    client = ReportClient(server.address, server.secret)
    ckpt = {"w": bytes(range(256)) * 8192, "step": 3}  # 2 MB
    out = client.call("report_many", 7, [(1, {"val_accuracy": 0.5}, 0.1, ckpt)], 12.5)
    assert out == (0, False, (7, [(1, {"val_accuracy": 0.5}, 0.1, ckpt)], 12.5))
    assert client.call("report_many", 8) == (0, False, (8,))
    assert server.calls == 2 and len(server.target.calls) == 2
    client.close()


def test_many_connections_at_once_each_get_their_own_answers(server):
    errors = []

    def worker(w):
        client = ReportClient(server.address, server.secret)
        for i in range(150):
            out = client.call("report_many", w, i)
            if out != (0, False, (w, i)):
                errors.append((w, i, out))
        client.close()

    threads = [threading.Thread(target=worker, args=(w,)) for w in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and server.calls == 16 * 150 and server.connections == 16


def test_a_closed_server_ends_its_open_connections(server):
    client = ReportClient(server.address, server.secret)
    assert client.call("report_many", 1) == (0, False, (1,))
    server.close()
    time.sleep(1.5)  # the serving thread notices within a second
    with pytest.raises(ChannelClosed):
        client.call("report_many", 2)


def test_the_targets_error_is_raised_in_the_caller_and_the_connection_goes_on(server):
    client = ReportClient(server.address, server.secret)
    with pytest.raises(KeyError, match="val_accuracy"):
        client.call("report_many", "boom")
    with pytest.raises(AttributeError, match="no call 'next_trial'"):
        client.call("next_trial", 1)
    assert client.call("report_many", 1) == (0, False, (1,))


def test_a_peer_without_the_secret_is_closed_before_anything_it_sends_is_read(server):
    bad = ReportClient(server.address, b"x" * 32)
    with pytest.raises(ChannelClosed):
        bad.call("report_many", 1)
    raw = socket.create_connection(server.address)  # a header announcing a huge secret frame
    raw.sendall((1 << 30).to_bytes(4, "little"))
    assert raw.recv(1) == b""  # closed without reading a gigabyte
    assert server.target.calls == []


def test_a_closed_server_makes_connect_say_why(server):
    address, secret = server.address, server.secret
    server.close()
    client, why = connect((*address, secret))
    assert client is None and f"{address[0]}:{address[1]}" in why
    assert connect(None) == (None, None)  # no channel offered: Ray calls, nothing to say


def test_a_dead_server_fails_the_waiting_call_instead_of_hanging():
    listener = socket.create_server(("127.0.0.1", 0))

    def accept_then_drop():
        conn, _ = listener.accept()
        conn.recv(64)
        time.sleep(0.2)
        conn.close()

    threading.Thread(target=accept_then_drop, daemon=True).start()
    client = ReportClient(listener.getsockname(), b"s" * 32)
    with pytest.raises(ChannelClosed):
        client.call("report_many", 1)
    listener.close()


def test_serialized_methods_never_overlap_across_threads():
    @serialized
    class Slow:
        def __init__(self):
            self.inside = 0
            self.overlaps = 0

        def work(self):
            self.inside += 1
            self.overlaps += self.inside > 1
            time.sleep(0.002)
            self.inside -= 1
            return self.nested()

        def nested(self):  # the lock is re-entrant: a method may call another
            return 1

    obj = Slow()
    threads = [threading.Thread(target=lambda: [obj.work() for _ in range(20)]) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert obj.overlaps == 0


# ---- real runs ---------------------------------------------------------------------------------------------


def _run(ray, run_dir, channel: str, workers: int, trials: int, scheduler_cls=None):
    from raybench.core.records import WorkerShape
    from raybench.runtime.actors import SchedulerActor, TrialActor

    cfg = experiment(task={"dataset": "synthetic", "epochs": 6}, seed=3,
                     pruner={"type": "asha", "grace_period": 1, "reduction_factor": 2, "max_t": 6},
                     workers={"count": workers, "cpus": 1 / workers, "memory_mb": 64, "enforce_memory": False,
                              "report_channel": channel},
                     budget={"max_trials": trials}, energy={"backend": "none", "gpu": "none"}, max_failures=0)
    shape = WorkerShape.of(cfg.workers)
    run_dir.mkdir()
    cls = SchedulerActor if scheduler_cls is None else ray.remote(num_cpus=0, max_restarts=0)(scheduler_cls)
    sched = cls.remote(cfg, str(run_dir))
    ray.get(sched.start.remote(run_id="ch", env={}, requested=workers, effective=workers))
    actors = [TrialActor.options(**shape.ray_options()).remote(i, shape, memory_limit=False)
              for i in range(workers)]
    done = sum(ray.get([a.run.remote(sched) for a in actors]))
    stats = ray.get(sched.channel_stats.remote())
    ray.get(sched.end.remote("completed", ""))
    for a in actors:
        ray.kill(a)
    ray.kill(sched)
    return done, stats, events_of(run_dir)


def _decisions(events):
    return [(e["trial_id"], e["step"], e["action"], e["reason"]["rule"]) for e in events if e["event"] == "decision"]


def test_reports_over_the_socket_decide_exactly_as_ray_calls_do(local_ray, tmp_path):
    done_s, stats_s, ev_s = _run(local_ray, tmp_path / "socket", "socket", 1, 30)
    done_r, stats_r, ev_r = _run(local_ray, tmp_path / "ray", "ray", 1, 30)
    assert done_s == done_r == 30
    assert stats_s["connections"] == 1 and stats_s["calls"] >= 30  # every trial reported through the socket
    assert stats_r == {"connections": 0, "calls": 0}
    assert _decisions(ev_s) == _decisions(ev_r) and len(_decisions(ev_s)) >= 30
    assert [e["metrics"] for e in ev_s if e["event"] == "report"] == \
        [e["metrics"] for e in ev_r if e["event"] == "report"]


def _unreachable_scheduler():
    from raybench.runtime._scheduler import LiveScheduler

    class Unreachable(LiveScheduler):
        def channel(self):
            offer = super().channel()
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
            s.close()  # nothing listens there: the connection is refused, as behind a closed firewall port
            return (offer[0], port, offer[2])

    return Unreachable


def test_workers_that_cannot_reach_the_socket_report_through_ray_and_say_so_once(local_ray, tmp_path):
    done, stats, events = _run(local_ray, tmp_path / "run", "socket", 3, 24, _unreachable_scheduler())
    assert done == 24 and stats["calls"] == 0
    ends = collections.Counter(e["trial_id"] for e in events if e["event"] == "trial_completed")
    assert sorted(ends) == list(range(24)) and set(ends.values()) == {1}
    warns = [e for e in events if e["event"] == "warning" and e.get("code") == "report_channel"]
    assert len(warns) == 1 and "workers.report_channel: ray" in warns[0]["message"]


class Meter:
    """A target with calls of its own (as the energy actor's track and untrack), keyword arguments included."""

    def __init__(self):
        self.seen = []

    def track(self, trial_id, pid, *, seq=None, phase="trial"):
        self.seen.append(("track", trial_id, pid, seq, phase))
        return True

    def untrack(self, trial_id, *, seq=None):
        self.seen.append(("untrack", trial_id, seq))
        return True

    def report_many(self, *args):  # not in this server's calls
        raise AssertionError("must not be reachable")


def test_a_server_answers_only_its_own_calls_with_their_keyword_arguments():
    srv = ReportServer(Meter(), "127.0.0.1", calls=frozenset({"track", "untrack"}))
    client = ReportClient(srv.address, srv.secret)
    try:
        assert client.call("track", 3, 99, seq=1, phase="startup") is True
        assert client.call("untrack", 3, seq=2) is True
        with pytest.raises(AttributeError, match="no call 'report_many'"):
            client.call("report_many", 1)
        assert srv.target.seen == [("track", 3, 99, 1, "startup"), ("untrack", 3, 2)]
    finally:
        client.close()
        srv.close()


def test_an_answer_later_than_the_clients_timeout_closes_the_channel():
    class Stuck:
        def report_many(self, *args):
            time.sleep(1.0)

    srv = ReportServer(Stuck(), "127.0.0.1")
    client = ReportClient(srv.address, srv.secret, answer_timeout_s=0.2)
    try:
        t = time.monotonic()
        with pytest.raises(ChannelClosed):
            client.call("report_many")
        assert time.monotonic() - t < 0.9
    finally:
        srv.close()


def test_trial_actors_tell_their_energy_actor_over_its_channel(local_ray, tmp_path):
    """A real energy actor and a trial actor's link to it: track and untrack take the channel, reach the
    monitor (the trial's CPU shows in the next sample), and a dead energy actor fails the call, not the trial."""
    import os

    import ray

    from raybench.runtime._energy_node import EnergyLink
    from raybench.runtime.actors import EnergyActor

    spec = {"backend": "estimate", "gpu": "none", "baseline_s": 0, "interval_s": 1.0}
    @ray.remote(num_cpus=0)
    class Collector:  # stands for the scheduler, which receives the energy actor's samples
        def __init__(self):
            self.batches = []

        def energy(self, events):
            self.batches.append(events)

        def got(self):
            return self.batches

    collector = Collector.remote()
    actor = EnergyActor.remote("n", "host", spec, {"cpus": 2, "memory_mb": 1024, "gpus": 0, "tpus": 0})
    ray.get(actor.start.remote(collector))
    link = EnergyLink(actor)
    assert link.client is not None  # the channel, not Ray calls
    pid = os.getpid()
    # The link's calls as track_trial and untrack_trial make them (those also make the caller a subreaper,
    # which this test process must not become).
    assert link.call("track", 7, pid, {"cpus": 1, "gpu_ids": []}, seq=1, t=time.time(), phase="trial") is True
    e = time.process_time() + 0.3
    while time.process_time() < e:  # CPU for trial 7 to be measured
        pass
    # Straight on to trial 8: trial 7's untrack goes with trial 8's track, in one call.
    assert link.call("retrack", 7, 8, pid, {"cpus": 1, "gpu_ids": []}, ended_seq=2, ended_t=time.time(), seq=3,
                     t=time.time(), phase="trial") is True
    e = time.process_time() + 0.3
    while time.process_time() < e:
        pass
    assert link.call("untrack", 8, seq=4, t=time.time(), phase="trial") is True
    ray.get(actor.stop.remote())  # the last interval, the trials' CPU in it, goes to the collector
    samples = [ev for batch in ray.get(collector.got.remote()) for ev in batch if ev["event"] == "energy_sample"]
    assert samples and all(sum(s["trial_cpu_s"].get(t, 0.0) for s in samples) >= 0.25 for t in (7, 8))
    ray.kill(actor)
    time.sleep(0.5)
    assert link.call("track", 9, pid, {"cpus": 1, "gpu_ids": []}, seq=5) is False  # dead: the call fails at once
    assert link.client is None


def test_an_untrack_for_another_energy_actor_goes_to_that_one_before_the_track(local_ray, tmp_path):
    """track_trial(..., after=): the ended trial's untrack goes with the next track when both are for the same
    energy actor (one retrack call), and to its own actor first when the next track goes to another (a
    replaced energy actor): no trial is left tracked on the actor it ran on."""
    import ray

    from raybench.runtime.actors import EnergyActor

    spec = {"backend": "estimate", "gpu": "none", "baseline_s": 0, "interval_s": 0.2}

    @ray.remote(num_cpus=0)
    class Collector:
        def __init__(self):
            self.batches = []

        def energy(self, events):
            self.batches.append(events)

        def got(self):
            return self.batches

    @ray.remote(num_cpus=0)
    def trial_actor_side(a, b):  # in a process of its own, as a trial actor (track_trial makes it a subreaper)
        import os

        from raybench.runtime._energy_node import EnergyLink, send_untrack, track_trial, untrack_later

        link_a, link_b, pid, res = EnergyLink(a), EnergyLink(b), os.getpid(), {"cpus": 1, "gpu_ids": []}
        ok = [track_trial(link_a, 1, pid, res, phase="trial")]
        ok.append(track_trial(link_a, 2, pid, res, phase="trial", after=untrack_later(link_a, 1)))  # retrack
        ok.append(track_trial(link_b, 3, pid, res, phase="trial", after=untrack_later(link_a, 2)))  # A, then B
        ok.append(send_untrack(untrack_later(link_b, 3)))
        return ok

    collectors = [Collector.remote(), Collector.remote()]
    actors = [EnergyActor.remote(n, "host", spec, {"cpus": 2, "memory_mb": 1024, "gpus": 0, "tpus": 0})
              for n in ("a", "b")]
    ray.get([actor.start.remote(c) for actor, c in zip(actors, collectors)])
    assert ray.get(trial_actor_side.remote(*actors)) == [True] * 4
    time.sleep(0.5)  # samples after every untrack: nothing is tracked any more
    ray.get([actor.stop.remote() for actor in actors])
    for collector, trials in zip(collectors, ({1, 2}, {3})):
        samples = [e for batch in ray.get(collector.got.remote()) for e in batch if e["event"] == "energy_sample"]
        seen = {int(t) for s in samples for t in s["held_s"]}
        assert seen == trials
        assert not samples[-1]["held_s"]  # the last sample: every trial untracked
        assert sum(s["held_s"].get(t, 0.0) for s in samples for t in trials) < 0.3  # held for moments only
