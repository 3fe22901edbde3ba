"""On PYTHONPATH of the fake autoscaling head only: lets Ray's fake node provider launch node types that declare
`memory`.

Ray 2.60's FakeMultiNodeProvider passes a node type's `memory` on to RayParams as a custom resource, which
RayParams rejects, so its nodes can offer no memory and the autoscaler never launches one for an actor that
reserves memory (every raybench trial actor does). In the autoscaler's monitor process, this moves `memory` to
RayParams' own `memory` argument. Every other process is left alone.
"""

import sys

if sys.argv and sys.argv[0].replace("\\", "/").endswith("autoscaler/_private/monitor.py"):
    import ray._private.parameter as _parameter

    _init = _parameter.RayParams.__init__

    def _init_with_memory(self, *args, resources=None, memory=None, **kwargs):
        if resources and "memory" in resources:
            resources = dict(resources)
            memory = resources.pop("memory")
        _init(self, *args, resources=resources, memory=memory, **kwargs)

    _parameter.RayParams.__init__ = _init_with_memory
