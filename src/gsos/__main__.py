from gsos.cli import main

main()
