from xmpvision.cli import main

main()
