"""How many layers per second costing ahead adds on the other nodes of a Ray cluster, beside the driver's thread.

    python benchmarks/bench_remote_cost.py [--space search_spaces/codesign.yaml] [--seconds 20]
                                           [--worker-cpus 1] [--seed 5] [--rounds 2]

A 2-node local cluster (Ray's `ray.cluster_utils.Cluster`: a head with 1 CPU and a worker with --worker-cpus, the
worker with a layer cache of its own, as another machine has) is started first. Then, each from an empty layer
cache, an ehvi sampler costs ahead for --seconds (nothing trains: its thread has the driver's spare cores): once
with the driver not connected to Ray (the thread alone: the baseline), once connected (the thread, and batches
of layers on the worker node); --rounds times, alternating. Printed per round: layers in the driver's cache per
second in each run, the layers the worker sent back, the ratio, and the load average. Here the two nodes are one
machine: the worker's tasks take the same cores as the driver's thread, so the gain measures what this machine's
idle cycles add, not what a second machine would.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _run(objective, seed: int, seconds: float, cache_path: Path) -> tuple[int, int, int, float, float]:
    """Cost ahead from an empty cache for `seconds`: layers in the driver's cache, layers the other nodes sent
    back, batches, the seconds it ran (less when it ran out of work) and the driver process's CPU seconds."""
    from codesign.cost import CostCache
    from codesign.search.ehvi import EHVISampler

    os.environ["CODESIGN_CACHE"] = str(cache_path)
    sampler = EHVISampler(objective, seed, cost_ahead=True)
    ahead = sampler.cost_ahead
    assert ahead is not None
    start, cpu = time.monotonic(), time.process_time()
    while time.monotonic() - start < seconds and not ahead.idle():
        time.sleep(0.1)
    took, cpu = time.monotonic() - start, time.process_time() - cpu
    layers = len(CostCache(cache_path))
    remote = ahead._remote
    landed, batches = (remote.landed, len(remote.records)) if remote is not None else (0, 0)
    sampler.close()
    ahead.wait(30)
    return layers, landed, batches, took, cpu


def main() -> None:
    """Run the baseline and the cluster run and print their rates."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--space", default=str(ROOT / "search_spaces" / "codesign.yaml"))
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--worker-cpus", type=int, default=1)
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()

    import ray
    from ray.cluster_utils import Cluster

    from codesign.search import DataSettings, SearchSettings, prefetch
    from codesign.search.objective import DesignObjective
    from codesign.search.prepared import PreparedSearch

    prefetch.THREAD_NICE = os.getpriority(os.PRIO_PROCESS, 0)  # as in a search: the thread at the trials' level
    temp = Path(tempfile.mkdtemp(prefix="rb", dir="/tmp"))  # short: Ray's socket paths must fit in 107 bytes
    os.environ["RAY_TMPDIR"] = str(temp)
    os.environ["RAY_AUTH_MODE"] = "disabled"
    settings = SearchSettings(name="remote", space=args.space, data=DataSettings(dataset="fashion-mnist"))
    objective = DesignObjective(PreparedSearch.load(settings))
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
    lines = []
    try:
        cluster.add_node(num_cpus=args.worker_cpus, env_vars={"CODESIGN_CACHE": str(temp / "worker.sqlite")})
        time.sleep(3)  # the nodes' own start-up work settles, for both runs alike
        for round_ in range(args.rounds):
            load = os.getloadavg()[0]
            alone = _run(objective, args.seed, args.seconds, temp / f"alone-{round_}.sqlite")
            ray.init(address=cluster.address)
            both = _run(objective, args.seed, args.seconds, temp / f"both-{round_}.sqlite")
            ray.shutdown()
            rate_alone, rate_both = alone[0] / alone[3], both[0] / both[3]
            lines += [
                f"round {round_ + 1} (load average {load:.2f} -> {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores)",
                f"  driver's thread alone: {alone[0]:>6} layers in {alone[3]:5.1f} s = {rate_alone:7.1f} layers/s "
                f"(driver CPU {alone[4]:.1f} s)",
                f"  thread + worker node:  {both[0]:>6} layers in {both[3]:5.1f} s = {rate_both:7.1f} layers/s "
                f"(driver CPU {both[4]:.1f} s), of which {both[1]} sent back by the worker in {both[2]} batches "
                f"({both[1] / both[3]:.1f} layers/s)",
                f"  ratio (cluster / alone): {rate_both / max(rate_alone, 1e-9):.2f}x",
            ]
    finally:
        ray.shutdown()
        cluster.shutdown()
        shutil.rmtree(temp, ignore_errors=True)
    print(f"{Path(args.space).name}, seed {args.seed}, {args.seconds:g} s each, worker node {args.worker_cpus} CPU")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
