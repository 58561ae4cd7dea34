"""The labqueue program: command line, startup and wiring of core to the window."""
