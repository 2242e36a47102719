"""`python -m park.workloads.data --params '{"input": "DIR"}'` (the platform passes PARK_WORKLOAD_PARAMS)."""

from park.workloads.data.driver import main

raise SystemExit(main())
