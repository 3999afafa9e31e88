"""The ``ravao`` command line: the one place that puts every side's commands
together (the device's, the owner's). No other module imports more than one side."""
