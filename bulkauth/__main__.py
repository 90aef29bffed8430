from bulkauth.cli import main

main()
