import raybench.energy as energy
import raybench.energy.backends as backends


def test_public_api_is_exactly_all():
    public = {n for n in dir(energy) if not n.startswith("_")} - {"attribution", "metrics", "backends"}
    assert public == set(energy.__all__)
    assert {n for n in dir(backends) if not n.startswith("_")} == set(backends.__all__)


def test_importing_the_energy_layer_does_not_import_ray_or_pyrapl():
    import subprocess
    import sys

    code = "import sys, raybench.energy, raybench.energy.metrics; print(sorted(m for m in ('ray', 'pyRAPL') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "[]" and out.stderr == ""
