"""``python -m classlink_sync.cli``: the staff command line where no console script is installed
(the Lambda layer's environment)."""

from classlink_sync.cli import main

raise SystemExit(main())
