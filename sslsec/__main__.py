"""``python -m sslsec run NN|all --profile smoke|laptop|paper --seed S``."""

import sys

from sslsec.run import main

sys.exit(main())
