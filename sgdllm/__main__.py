from sgdllm.cli import main

raise SystemExit(main())
