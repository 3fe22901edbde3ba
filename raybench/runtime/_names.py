"""Names of the actors that find each other at run time."""


def energy_actor_name(run_id: str, node_id: str) -> str:
    # The whole node id: ids may share a long prefix (the fake autoscaler's are fff...f00001, fff...f00002).
    return f"raybench-energy-{run_id}-{node_id}"
