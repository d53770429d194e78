from openfc.cli import main

main()
