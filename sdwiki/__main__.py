from sdwiki.cli import main

main()
