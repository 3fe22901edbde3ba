"""`python -m raybench.testing.fake_rapl ROOT`: a fake RAPL device at the sysfs level (see _fake_rapl.py)."""

import sys

from raybench.testing._fake_rapl import main

if __name__ == "__main__":
    sys.exit(main())
