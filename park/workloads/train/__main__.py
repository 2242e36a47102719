"""`python -m park.workloads.train --params '{"steps": 200}'`"""

from park.workloads.train.driver import main

raise SystemExit(main())
