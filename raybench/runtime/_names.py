"""Names of the actors that find each other at run time."""


def energy_actor_name(run_id: str, node_id: str) -> str:
    return f"raybench-energy-{run_id}-{node_id[:16]}"
