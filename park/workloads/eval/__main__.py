"""`python -m park.workloads.eval --params '{"checkpoint": "...", "baseline": {...}}'`"""

from park.workloads.eval.driver import main

raise SystemExit(main())
