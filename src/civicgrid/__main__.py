from civicgrid.cli import main

main()
