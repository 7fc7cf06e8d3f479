from receiver.cli import main
import sys
sys.exit(main())
