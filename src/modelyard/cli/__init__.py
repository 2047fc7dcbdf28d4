"""The command line: argument parsing and rendering only; the work is done by the domain."""
