"""Unguarded: configured_main's program, its main() called at top level without a guard."""
import configured_main

configured_main.main()
