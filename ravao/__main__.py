from ravao.cli import main

raise SystemExit(main())
