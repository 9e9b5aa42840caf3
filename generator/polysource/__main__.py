from polysource.cli import main

main()
