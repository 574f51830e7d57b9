import sys

from course_rnn.cli import main

sys.exit(main())
