from xenc.cli import main

main()
