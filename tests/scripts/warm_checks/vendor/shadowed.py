"""The program's vendored copy, put first on sys.path by its main()."""

WHERE = "vendor"
